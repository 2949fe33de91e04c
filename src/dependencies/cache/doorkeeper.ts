/**
 * Admission for L1 fills once L1 is full: TinyLFU's "doorkeeper". A key read from Redis is
 * copied into a full L1 only if it was read before in the current window; a key read once
 * (a one-hit wonder) would only evict a copy somebody may read again.
 *
 * Why it matters here: on a full L1 every fill evicts an entry, and each fill's copy
 * survives the young-generation collections it lives through, only to be evicted in old
 * space. On 50,000 uniformly random keys over a 10,000-entry L1 that churn was the largest
 * cost of an L2 read after the I/O (docs/BENCHMARKS.md, issue 16). Keys read again and again
 * (the ones L1 is for) pass on their second read.
 *
 * One bit per slot of a fixed bit array (one hash, false "seen" answers only admit a key
 * early); the array is cleared after `window` marks, so "before" means "recently". Memory:
 * `window` bytes. No timers, no allocation per call.
 */
export class Doorkeeper {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private marks = 0;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`Doorkeeper window: expected an integer >= 1, got ${String(window)}`);
    }
    // 8 bits per mark of a window: at most 1 in 8 first reads is let in by a collision.
    let slots = 64;
    while (slots < window * 8) slots *= 2;
    this.bits = new Uint32Array(slots / 32);
    this.mask = slots - 1;
  }

  /** Marks `key`; true if it was marked already in this window (admit it). */
  admit(key: string): boolean {
    const slot = fnv1a(key) & this.mask;
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    if ((this.bits[word]! & bit) !== 0) return true;
    this.bits[word]! |= bit;
    if (++this.marks >= this.window) {
      this.bits.fill(0);
      this.marks = 0;
    }
    return false;
  }
}

/** 32-bit FNV-1a over the UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
