/** Why a trip policy opens the circuit. */
export type TripReason = 'failure_threshold' | 'failure_rate' | 'slow_call_rate';

/**
 * Decides, from the outcomes seen while CLOSED, when the circuit should open. One file per
 * strategy, all behind this small interface (cockatiel's `IBreaker`).
 */
export interface TripPolicy {
  /**
   * Records one call that was not ignored; returns why the circuit must open, if it must.
   * Every recorded call is evaluated, successes included (a success can bring the window to
   * its minimum number of calls with the rate already over the threshold).
   */
  record(failed: boolean, durationMs: number, now: number): TripReason | undefined;
  /** Forgets all history: the circuit closed again, or was reset. */
  reset(): void;
  /** What the policy currently sees, for `metrics()`: one tagged entry, never merged. */
  snapshot(now: number): PolicySnapshot;
}

export type PolicySnapshot =
  | { kind: 'consecutive_failures'; failures: number; threshold: number }
  | {
      kind: 'sliding_window';
      calls: number;
      failures: number;
      slow: number;
      failureRate: number;
      slowCallRate: number;
    };
