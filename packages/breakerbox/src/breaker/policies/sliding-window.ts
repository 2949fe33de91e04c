/** Resilience4j-style sliding windows: the last N calls, or the calls of the last T ms. */
export type SlidingWindow =
  { type: 'count'; size: number } | { type: 'time'; durationMs: number; buckets?: number };

/** What a window holds right now. */
export interface WindowTotals {
  calls: number;
  failures: number;
  slow: number;
}

/** A window's contents in a form that survives a process (clock-free: ages, not times). */
export type WindowExport =
  | { type: 'count'; size: number; outcomes: number[] }
  | {
      type: 'time';
      durationMs: number;
      buckets: number;
      /** Bucket contents by age: 0 is the current bucket. */
      entries: Array<{ age: number; calls: number; failures: number; slow: number }>;
    };

const FAILED = 1;
const SLOW = 2;

/** One window of call outcomes, shared by the failure-rate and slow-call-rate checks. */
export interface OutcomeWindow {
  record(now: number, failed: boolean, slow: boolean): void;
  /** Writes the totals into `into` (no allocation on the call path). */
  totals(now: number, into: WindowTotals): WindowTotals;
  clear(): void;
  export(now: number): WindowExport;
  /** Loads an export of the same shape; an export of another shape is dropped. */
  restore(saved: WindowExport, now: number): void;
}

export function createWindow(window: SlidingWindow): OutcomeWindow {
  return window.type === 'count'
    ? new CountWindow(window.size)
    : new TimeWindow(window.durationMs, window.buckets ?? 10);
}

/** A ring of the last `size` outcomes, each a bit set (1 = failed, 2 = slow). */
class CountWindow implements OutcomeWindow {
  private readonly outcomes: Uint8Array;
  private next = 0;
  private filled = 0;
  private failures = 0;
  private slow = 0;

  constructor(size: number) {
    this.outcomes = new Uint8Array(size);
  }

  record(_now: number, failed: boolean, slow: boolean): void {
    const size = this.outcomes.length;
    if (this.filled === size) {
      const old = this.outcomes[this.next]!;
      this.failures -= old & FAILED;
      this.slow -= (old & SLOW) >> 1;
    } else {
      this.filled++;
    }
    this.outcomes[this.next] = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (failed) this.failures++;
    if (slow) this.slow++;
    if (++this.next === size) this.next = 0;
  }

  totals(_now: number, into: WindowTotals): WindowTotals {
    into.calls = this.filled;
    into.failures = this.failures;
    into.slow = this.slow;
    return into;
  }

  clear(): void {
    this.outcomes.fill(0);
    this.next = 0;
    this.filled = 0;
    this.failures = 0;
    this.slow = 0;
  }

  export(): WindowExport {
    const size = this.outcomes.length;
    const outcomes: number[] = [];
    const first = (this.next - this.filled + size) % size;
    for (let i = 0; i < this.filled; i++) outcomes.push(this.outcomes[(first + i) % size]!);
    return { type: 'count', size, outcomes };
  }

  restore(saved: WindowExport, now: number): void {
    this.clear();
    if (saved.type !== 'count' || saved.size !== this.outcomes.length) return;
    for (const bits of saved.outcomes.slice(-this.outcomes.length)) {
      this.record(now, (bits & FAILED) !== 0, (bits & SLOW) !== 0);
    }
  }
}

/** Fixed-width time buckets covering the last `durationMs`; memory is bounded by `buckets`. */
class TimeWindow implements OutcomeWindow {
  private readonly bucketMs: number;
  private readonly epochs: Float64Array;
  private readonly calls: Uint32Array;
  private readonly failures: Uint32Array;
  private readonly slow: Uint32Array;

  constructor(
    private readonly durationMs: number,
    buckets: number,
  ) {
    this.bucketMs = durationMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-Infinity);
    this.calls = new Uint32Array(buckets);
    this.failures = new Uint32Array(buckets);
    this.slow = new Uint32Array(buckets);
  }

  private bucket(epoch: number): number {
    const index = ((epoch % this.epochs.length) + this.epochs.length) % this.epochs.length;
    if (this.epochs[index] !== epoch) {
      this.epochs[index] = epoch;
      this.calls[index] = 0;
      this.failures[index] = 0;
      this.slow[index] = 0;
    }
    return index;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    const index = this.bucket(Math.floor(now / this.bucketMs));
    this.calls[index]!++;
    if (failed) this.failures[index]!++;
    if (slow) this.slow[index]!++;
  }

  totals(now: number, into: WindowTotals): WindowTotals {
    const current = Math.floor(now / this.bucketMs);
    const oldest = current - this.epochs.length + 1;
    let calls = 0;
    let failures = 0;
    let slow = 0;
    for (let i = 0; i < this.epochs.length; i++) {
      const epoch = this.epochs[i]!;
      if (epoch >= oldest && epoch <= current) {
        calls += this.calls[i]!;
        failures += this.failures[i]!;
        slow += this.slow[i]!;
      }
    }
    into.calls = calls;
    into.failures = failures;
    into.slow = slow;
    return into;
  }

  clear(): void {
    this.epochs.fill(-Infinity);
    this.calls.fill(0);
    this.failures.fill(0);
    this.slow.fill(0);
  }

  export(now: number): WindowExport {
    const current = Math.floor(now / this.bucketMs);
    const entries: Array<{ age: number; calls: number; failures: number; slow: number }> = [];
    for (let i = 0; i < this.epochs.length; i++) {
      const age = current - this.epochs[i]!;
      if (age >= 0 && age < this.epochs.length && this.calls[i]! > 0) {
        entries.push({
          age,
          calls: this.calls[i]!,
          failures: this.failures[i]!,
          slow: this.slow[i]!,
        });
      }
    }
    entries.sort((a, b) => b.age - a.age);
    return { type: 'time', durationMs: this.durationMs, buckets: this.epochs.length, entries };
  }

  restore(saved: WindowExport, now: number): void {
    this.clear();
    if (
      saved.type !== 'time' ||
      saved.durationMs !== this.durationMs ||
      saved.buckets !== this.epochs.length
    ) {
      return;
    }
    const current = Math.floor(now / this.bucketMs);
    for (const entry of saved.entries) {
      const age = Math.floor(entry.age);
      if (!(age >= 0 && age < this.epochs.length)) continue;
      const index = this.bucket(current - age);
      this.calls[index] = count(entry.calls);
      this.failures[index] = Math.min(count(entry.failures), this.calls[index]!);
      this.slow[index] = Math.min(count(entry.slow), this.calls[index]!);
    }
  }
}

function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
