import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { CascadeCache } from '../cascade-cache.js';
import { L1Cache } from '../l1-cache.js';
import type { L2GetResult, RedisStore } from '../redis-store.js';
import { SlotCoherence, type MasterCoherence } from './slot-coherence.js';

// Per-slot L1 coherence on a cluster, with the real cache (CascadeCache + L1Cache) and
// trackers whose coherence the test sets: which copies stay fresh, and which flushes drop what.

const NAMESPACE = 'bb:v1:';

class FakeTracker implements MasterCoherence {
  isCoherent = true;
  lostAt = -Infinity;
  coherent(): boolean {
    return this.isCoherent;
  }
  lastCoherentAt(): number {
    return this.isCoherent ? performance.now() : this.lostAt;
  }
}

/** An L2 that always has the key (value `redis:<key>`), so every miss in L1 is visible. */
class AlwaysHitL2 {
  readonly gets: string[] = [];
  async get(key: string): Promise<L2GetResult> {
    this.gets.push(key);
    return { status: 'hit', json: JSON.stringify(`redis:${key}`), ttlMs: 60_000 };
  }
  async setJson(): Promise<{ status: 'ok' }> {
    return { status: 'ok' };
  }
  async delete(): Promise<{ status: 'ok' }> {
    return { status: 'ok' };
  }
  async close(): Promise<void> {}
}

type Ranges = Array<[first: number, last: number, nodes: string[]]>;

function slotMap(ranges: Ranges): string[][] {
  const slots: string[][] = [];
  for (const [first, last, nodes] of ranges) for (let s = first; s <= last; s++) slots[s] = nodes;
  return slots;
}

const THREE: Ranges = [
  [0, 5460, ['a:1', 'a2:1']],
  [5461, 10922, ['b:1', 'b2:1']],
  [10923, 16383, ['c:1', 'c2:1']],
];

/** A cache key whose Redis key hashes to a slot in [first, last]. */
function keyIn(first: number, last: number, salt: string): string {
  for (let i = 0; ; i++) {
    const key = `${salt}:${i}`;
    const slot = calculateSlot(NAMESPACE + key);
    if (slot >= first && slot <= last) return key;
  }
}

function setup() {
  const l1 = new L1Cache();
  const l2 = new AlwaysHitL2();
  const cache = new CascadeCache({ l1, l2: l2 as unknown as RedisStore });
  const slots = new SlotCoherence(cache, NAMESPACE);
  cache.setCoherence({
    coherent: () => false, // the whole-cache answer is never what the hit path asks
    lastCoherentAt: () => -Infinity,
    fallbackMaxMs: 5_000,
    tagOf: (key) => slots.tagOf(key),
    coherentTag: (slot, now) => slots.coherentTag(slot, now),
    lastCoherentAtTag: (slot) => slots.lastCoherentAtTag(slot),
  });
  const trackers = new Map<string, FakeTracker>(
    ['a:1', 'b:1', 'c:1', 'b2:1'].map((n) => [n, new FakeTracker()]),
  );
  const keys = {
    a: keyIn(0, 5460, 'a'),
    aLow: keyIn(0, 100, 'alow'),
    b: keyIn(5461, 10922, 'b'),
    c: keyIn(10923, 16383, 'c'),
  };
  /** Reads every key twice (the first fills L1); returns the second read's sources. */
  const sources = async (): Promise<Record<string, string | undefined>> => {
    const out: Record<string, string | undefined> = {};
    for (const [name, key] of Object.entries(keys)) {
      await cache.getJson(key);
      out[name] = (await cache.getJson(key)).source;
    }
    return out;
  };
  /** Which keys L1 holds right now. */
  const held = (): string[] =>
    Object.entries(keys)
      .filter(([, key]) => l1.has(key))
      .map(([name]) => name);
  return { l1, l2, cache, slots, trackers, keys, sources, held };
}

describe('SlotCoherence', () => {
  it("serves a copy as fresh while its slot's master is coherent, whatever the other masters", async () => {
    const { slots, trackers, keys, sources, cache } = setup();
    slots.update(slotMap(THREE), trackers);
    expect(slots.ownerOf(calculateSlot(NAMESPACE + keys.b))).toBe('b:1');
    expect(await sources()).toEqual({ a: 'l1', aLow: 'l1', b: 'l1', c: 'l1' });

    trackers.get('b:1')!.isCoherent = false; // b's master is down or silent
    expect(await sources()).toEqual({ a: 'l1', aLow: 'l1', b: 'l2', c: 'l1' });
    // The dead shard's copy is a marked fallback when Redis cannot answer (lost just now).
    trackers.get('b:1')!.lostAt = performance.now();
    expect(slots.lastCoherentAtTag(calculateSlot(NAMESPACE + keys.b))).toBe(
      trackers.get('b:1')!.lostAt,
    );
    // An invalidation from any master's tracker reaches the key.
    slots.listenerFor('c:1').invalidate(keys.a);
    expect((await cache.getJson(keys.a)).source).toBe('l2');
  });

  it("a tracker re-enabling drops only the copies of its master's slots", async () => {
    const { slots, trackers, sources, held, cache } = setup();
    slots.update(slotMap(THREE), trackers);
    await sources();
    expect(held()).toEqual(['a', 'aLow', 'b', 'c']);
    slots.listenerFor('b:1').flush('reconnect');
    expect(held()).toEqual(['a', 'aLow', 'c']);
    slots.listenerFor('a:1').flush('redis_restart');
    expect(held()).toEqual(['c']);
    expect(cache.stats().flushes).toMatchObject({ reconnect: 1, redis_restart: 1, slot_map: 1 });
  });

  it('a slot-map change drops the copies of exactly the slots that changed master', async () => {
    const { slots, trackers, sources, held, cache, l2 } = setup();
    expect(slots.update(slotMap(THREE), trackers)).toBe(16_384); // the first map: everything
    await sources();
    // A periodic refresh with the same map drops nothing.
    expect(slots.update(slotMap(THREE), trackers)).toBe(0);
    expect(held()).toEqual(['a', 'aLow', 'b', 'c']);

    // A failover: b's replica is promoted and takes every slot of b.
    const failedOver: Ranges = [THREE[0]!, [5461, 10922, ['b2:1']], THREE[2]!];
    expect(slots.update(slotMap(failedOver), trackers)).toBe(5_462);
    expect(held()).toEqual(['a', 'aLow', 'c']);
    // Its keys are vouched for by the promoted master's tracker now.
    trackers.get('b:1')!.isCoherent = false;
    expect((await sources()).b).toBe('l1');
    trackers.get('b2:1')!.isCoherent = false;
    expect((await sources()).b).toBe('l2');

    // A reshard: slots 0-100 move from a to c; the rest of a's copies stay.
    const resharded: Ranges = [[0, 100, ['c:1']], [101, 5460, ['a:1']], ...failedOver.slice(1)];
    expect(slots.update(slotMap(resharded), trackers)).toBe(101);
    expect(held()).toEqual(['a', 'b', 'c']); // b is held, only not trusted
    expect(cache.stats().flushes.slot_map).toBe(3);

    // A slot without a master (or whose master has no tracker) is never coherent.
    l2.gets.length = 0;
    expect(slots.update(slotMap([[101, 16383, ['a:1']]]), new Map())).toBeGreaterThan(0);
    expect(slots.coherentTag(50)).toBe(false);
    expect(slots.coherentTag(200)).toBe(false);
    expect(slots.lastCoherentAtTag(50)).toBe(-Infinity);
  });
});
