import type { PolicySnapshot, TripPolicy } from './trip-policy.js';

/**
 * Opens after `threshold` failures in a row. A success resets the streak: the seed plan
 * counted lifetime failures, so five failures spread over a week would open the circuit.
 */
export class ConsecutiveFailuresPolicy implements TripPolicy {
  private streak = 0;

  constructor(readonly threshold: number) {}

  onSuccess(): void {
    this.streak = 0;
  }

  onFailure(): 'failure_threshold' | undefined {
    return ++this.streak >= this.threshold ? 'failure_threshold' : undefined;
  }

  reset(): void {
    this.streak = 0;
  }

  /** Restores a streak exported by `toJSON`. */
  restore(streak: number): void {
    this.streak = Math.max(0, Math.floor(streak));
  }

  snapshot(): PolicySnapshot {
    return { failures: this.streak };
  }
}
