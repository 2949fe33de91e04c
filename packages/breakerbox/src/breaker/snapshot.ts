import type { BreakerMode, CircuitState } from './state.js';

export type CallOutcome = 'success' | 'failure' | 'rejected' | 'ignored';
export const CALL_OUTCOMES: readonly CallOutcome[] = ['success', 'failure', 'rejected', 'ignored'];

/** The `metrics()` snapshot: the seed plan's JSON shape, plus what operators also need. */
export interface CircuitBreakerSnapshot {
  service: string;
  state: CircuitState;
  /** Failures counted toward opening: the current consecutive streak. */
  failure_count: number;
  /** Successful calls since creation or the last reset. */
  success_count: number;
  last_failure_time: string | null;
  state_changed_at: string | null;
  config: {
    failure_threshold: number | null;
    /** Seconds, as in the seed's JSON. */
    recovery_timeout: number;
    half_open_max_calls: number;
    half_open_max_wait: number;
    call_timeout: number | null;
    max_recovery_timeout: number;
    failure_rate: { threshold: number; minimum_calls: number; window: string } | null;
  };
  critical: boolean;
  mode: BreakerMode;
  /** Seconds until a probe may go through while open; null otherwise or when isolated. */
  retry_after_seconds: number | null;
  /** Seconds spent in the current state. */
  time_in_state_seconds: number;
  /** Lifetime call counts by outcome (never reset: they back monotonic counters). */
  calls: Record<CallOutcome, number>;
  /** Calls that failed by running past `callTimeout` (also counted in calls.failure). */
  timeouts: number;
  /** Failure rate over the sliding window, when a rate policy is configured. */
  failure_rate: { rate: number; calls: number; failures: number } | null;
  /** Times the circuit opened, lifetime. */
  opened_count: number;
}

/** Portable state for `toJSON()` / `initialState`: remaining times, never absolute clocks. */
export interface BreakerStateExport {
  version: 1;
  name: string;
  state: CircuitState;
  mode: BreakerMode;
  consecutiveFailures: number;
  /** Consecutive reopens without a close, which drives backoff. */
  reopens: number;
  /** Milliseconds of OPEN left when exported (open state only). */
  openRemainingMs?: number;
}
