import { DurationHistogram } from './duration-histogram.js';
import type { CallOutcome } from './snapshot.js';

/**
 * The lifetime measurements of one breaker: counts and durations by outcome, timeouts and
 * the last failure. Each count is kept once, here; the snapshot's `success_count` (since the
 * last reset) is the lifetime count minus the count at that reset. It never decides anything.
 */
export class CallMetrics {
  readonly totals: Record<CallOutcome, number> = {
    success: 0,
    failure: 0,
    rejected: 0,
    ignored: 0,
  };
  readonly histograms: Record<CallOutcome, DurationHistogram> = {
    success: new DurationHistogram(),
    failure: new DurationHistogram(),
    rejected: new DurationHistogram(),
    ignored: new DurationHistogram(),
  };
  timeouts = 0;
  /** Calls slower than the slow-call threshold, lifetime (whatever their outcome). */
  slowCalls = 0;
  /** The error (or failing result) that last counted as a failure; undefined since reset. */
  lastFailure: unknown = undefined;
  lastFailureAt: number | undefined = undefined;
  private successesAtReset = 0;

  /** Successes since creation or the last reset. */
  get successesSinceReset(): number {
    return this.totals.success - this.successesAtReset;
  }

  failure(error: unknown, now: number): void {
    this.lastFailure = error;
    this.lastFailureAt = now;
  }

  /** What `reset()` clears; the lifetime counts behind monotonic counters stay. */
  reset(): void {
    this.successesAtReset = this.totals.success;
    this.lastFailure = undefined;
    this.lastFailureAt = undefined;
  }
}
