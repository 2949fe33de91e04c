import type { PolicySnapshot, TripPolicy } from './trip-policy.js';

/**
 * Opens after `threshold` failures in a row. A success resets the streak: the original Python design
 * counted lifetime failures, so five failures spread over a week would open the circuit.
 * The streak is also the snapshot's `failure_count`, so it runs with an Infinity threshold
 * too (a rate-only breaker): it is the one place that count is kept.
 */
export class ConsecutiveFailuresPolicy implements TripPolicy {
  private count = 0;

  constructor(readonly threshold: number) {}

  get streak(): number {
    return this.count;
  }

  record(failed: boolean): 'failure_threshold' | undefined {
    if (!failed) {
      this.count = 0;
      return undefined;
    }
    return ++this.count >= this.threshold ? 'failure_threshold' : undefined;
  }

  reset(): void {
    this.count = 0;
  }

  /** Restores a streak exported by `toJSON`. */
  restore(streak: number): void {
    this.count = Number.isFinite(streak) ? Math.max(0, Math.floor(streak)) : 0;
  }

  snapshot(): PolicySnapshot {
    return { kind: 'consecutive_failures', failures: this.count, threshold: this.threshold };
  }
}
