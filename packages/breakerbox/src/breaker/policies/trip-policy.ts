/**
 * Decides, from the outcomes seen while CLOSED, when the circuit should open. One file per
 * strategy, all behind this small interface (cockatiel's `IBreaker`).
 */
export interface TripPolicy {
  /** Records a success seen while closed. */
  onSuccess(now: number): void;
  /** Records a failure seen while closed; returns why the circuit must open, if it must. */
  onFailure(now: number): 'failure_threshold' | 'failure_rate' | undefined;
  /** Forgets all history: the circuit closed again, or was reset. */
  reset(): void;
  /** What the policy currently sees, for `metrics()`. */
  snapshot(now: number): PolicySnapshot;
}

export interface PolicySnapshot {
  /** Failures counted toward tripping right now. */
  failures: number;
  /** Failure rate in [0, 1] over the window, for rate policies. */
  failureRate?: number;
  /** Calls in the window, for rate policies. */
  windowCalls?: number;
}
