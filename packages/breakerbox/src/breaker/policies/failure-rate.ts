import type { PolicySnapshot, TripPolicy } from './trip-policy.js';

/** Resilience4j-style sliding windows: the last N calls, or the calls of the last T ms. */
export type SlidingWindow =
  { type: 'count'; size: number } | { type: 'time'; durationMs: number; buckets?: number };

export interface FailureRateOptions {
  /** Open when failures / calls in the window reaches this, in (0, 1]. */
  threshold: number;
  /** Never open on fewer calls than this in the window. */
  minimumCalls: number;
  window: SlidingWindow;
}

/** Opens when the failure rate over a sliding window reaches a threshold. */
export class FailureRatePolicy implements TripPolicy {
  private readonly window: CountWindow | TimeWindow;

  constructor(private readonly options: FailureRateOptions) {
    this.window =
      options.window.type === 'count'
        ? new CountWindow(options.window.size)
        : new TimeWindow(options.window.durationMs, options.window.buckets ?? 10);
  }

  onSuccess(now: number): void {
    this.window.record(now, false);
  }

  onFailure(now: number): 'failure_rate' | undefined {
    this.window.record(now, true);
    const { calls, failures } = this.window.totals(now);
    return calls >= this.options.minimumCalls && failures / calls >= this.options.threshold
      ? 'failure_rate'
      : undefined;
  }

  reset(): void {
    this.window.clear();
  }

  snapshot(now: number): PolicySnapshot {
    const { calls, failures } = this.window.totals(now);
    return { failures, windowCalls: calls, failureRate: calls === 0 ? 0 : failures / calls };
  }
}

/** A ring of the last `size` outcomes (1 = failure). */
class CountWindow {
  private readonly outcomes: Uint8Array;
  private next = 0;
  private filled = 0;
  private failures = 0;

  constructor(size: number) {
    this.outcomes = new Uint8Array(size);
  }

  record(_now: number, failed: boolean): void {
    const size = this.outcomes.length;
    if (this.filled === size) this.failures -= this.outcomes[this.next]!;
    else this.filled++;
    const value = failed ? 1 : 0;
    this.outcomes[this.next] = value;
    this.failures += value;
    this.next = (this.next + 1) % size;
  }

  totals(): { calls: number; failures: number } {
    return { calls: this.filled, failures: this.failures };
  }

  clear(): void {
    this.outcomes.fill(0);
    this.next = 0;
    this.filled = 0;
    this.failures = 0;
  }
}

/** Fixed-width time buckets covering the last `durationMs`; memory is bounded by `buckets`. */
class TimeWindow {
  private readonly bucketMs: number;
  private readonly epochs: Float64Array;
  private readonly calls: Uint32Array;
  private readonly failures: Uint32Array;

  constructor(durationMs: number, buckets: number) {
    this.bucketMs = durationMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-1);
    this.calls = new Uint32Array(buckets);
    this.failures = new Uint32Array(buckets);
  }

  record(now: number, failed: boolean): void {
    const epoch = Math.floor(now / this.bucketMs);
    const index = epoch % this.epochs.length;
    if (this.epochs[index] !== epoch) {
      this.epochs[index] = epoch;
      this.calls[index] = 0;
      this.failures[index] = 0;
    }
    this.calls[index]!++;
    if (failed) this.failures[index]!++;
  }

  totals(now: number): { calls: number; failures: number } {
    const current = Math.floor(now / this.bucketMs);
    const oldest = current - this.epochs.length + 1;
    let calls = 0;
    let failures = 0;
    for (let i = 0; i < this.epochs.length; i++) {
      const epoch = this.epochs[i]!;
      if (epoch >= oldest && epoch <= current) {
        calls += this.calls[i]!;
        failures += this.failures[i]!;
      }
    }
    return { calls, failures };
  }

  clear(): void {
    this.epochs.fill(-1);
    this.calls.fill(0);
    this.failures.fill(0);
  }
}
