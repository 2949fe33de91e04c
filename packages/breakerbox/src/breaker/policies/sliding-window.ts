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

/**
 * One window of call outcomes, shared by the failure-rate and slow-call-rate checks. After
 * `record`, its `calls`, `failures` and `slow` are the window's totals at that call's time:
 * the rate checks read three fields, with no call and no copy.
 */
export interface OutcomeWindow extends Readonly<WindowTotals> {
  record(now: number, failed: boolean, slow: boolean): void;
  /** The totals at `now`, written into `into` (reading them changes nothing). */
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

/** A ring of the last `size` outcomes, each a bit set (1 = failed, 2 = slow), with running totals. */
class CountWindow implements OutcomeWindow {
  private readonly outcomes: Uint8Array;
  private next = 0;
  calls = 0;
  failures = 0;
  slow = 0;

  constructor(size: number) {
    this.outcomes = new Uint8Array(size);
  }

  record(_now: number, failed: boolean, slow: boolean): void {
    const outcomes = this.outcomes;
    const next = this.next;
    // A slot not yet filled holds 0 (see clear), so the evicted outcome needs no fill check,
    // and a clean success over a clean one (the usual call) writes and counts nothing.
    const old = outcomes[next]!;
    const bits = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (bits !== old) {
      outcomes[next] = bits;
      this.failures += (bits & FAILED) - (old & FAILED);
      this.slow += (bits >> 1) - (old >> 1);
    }
    if (this.calls < outcomes.length) this.calls++;
    this.next = next + 1 === outcomes.length ? 0 : next + 1;
  }

  totals(_now: number, into: WindowTotals): WindowTotals {
    into.calls = this.calls;
    into.failures = this.failures;
    into.slow = this.slow;
    return into;
  }

  clear(): void {
    this.outcomes.fill(0);
    this.next = 0;
    this.calls = 0;
    this.failures = 0;
    this.slow = 0;
  }

  export(): WindowExport {
    const size = this.outcomes.length;
    const outcomes: number[] = [];
    const first = (this.next - this.calls + size) % size;
    for (let i = 0; i < this.calls; i++) outcomes.push(this.outcomes[(first + i) % size]!);
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

/**
 * Fixed-width time buckets covering the last `durationMs`; memory is bounded by `buckets`.
 * Buckets age out with time, not with calls, so `record` sums them (a few buckets) afresh.
 */
class TimeWindow implements OutcomeWindow {
  private readonly bucketMs: number;
  private readonly epochs: Float64Array;
  private readonly bucketCalls: Uint32Array;
  private readonly bucketFailures: Uint32Array;
  private readonly bucketSlow: Uint32Array;
  calls = 0;
  failures = 0;
  slow = 0;

  constructor(
    private readonly durationMs: number,
    buckets: number,
  ) {
    this.bucketMs = durationMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-Infinity);
    this.bucketCalls = new Uint32Array(buckets);
    this.bucketFailures = new Uint32Array(buckets);
    this.bucketSlow = new Uint32Array(buckets);
  }

  private bucket(epoch: number): number {
    const index = ((epoch % this.epochs.length) + this.epochs.length) % this.epochs.length;
    if (this.epochs[index] !== epoch) {
      this.epochs[index] = epoch;
      this.bucketCalls[index] = 0;
      this.bucketFailures[index] = 0;
      this.bucketSlow[index] = 0;
    }
    return index;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    const index = this.bucket(Math.floor(now / this.bucketMs));
    this.bucketCalls[index]!++;
    if (failed) this.bucketFailures[index]!++;
    if (slow) this.bucketSlow[index]!++;
    this.totals(now, this);
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
        calls += this.bucketCalls[i]!;
        failures += this.bucketFailures[i]!;
        slow += this.bucketSlow[i]!;
      }
    }
    into.calls = calls;
    into.failures = failures;
    into.slow = slow;
    return into;
  }

  clear(): void {
    this.epochs.fill(-Infinity);
    this.bucketCalls.fill(0);
    this.bucketFailures.fill(0);
    this.bucketSlow.fill(0);
    this.calls = 0;
    this.failures = 0;
    this.slow = 0;
  }

  export(now: number): WindowExport {
    const current = Math.floor(now / this.bucketMs);
    const entries: Array<{ age: number; calls: number; failures: number; slow: number }> = [];
    for (let i = 0; i < this.epochs.length; i++) {
      const age = current - this.epochs[i]!;
      if (age >= 0 && age < this.epochs.length && this.bucketCalls[i]! > 0) {
        entries.push({
          age,
          calls: this.bucketCalls[i]!,
          failures: this.bucketFailures[i]!,
          slow: this.bucketSlow[i]!,
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
      this.bucketCalls[index] = count(entry.calls);
      this.bucketFailures[index] = Math.min(count(entry.failures), this.bucketCalls[index]!);
      this.bucketSlow[index] = Math.min(count(entry.slow), this.bucketCalls[index]!);
    }
  }
}

function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
