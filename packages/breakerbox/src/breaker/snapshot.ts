import type { CallMetrics } from './call-metrics.js';
import { errorMessage, errorName, type LastFailure } from './last-failure.js';
import type { ResolvedOptions } from './options.js';
import type { PolicySnapshot } from './policies/trip-policy.js';
import type { SlidingWindow } from './policies/sliding-window.js';
import { CircuitState, type BreakerMode } from './state.js';
import type { StateMachine } from './state-machine.js';

export type CallOutcome = 'success' | 'failure' | 'rejected' | 'ignored';
export const CALL_OUTCOMES: readonly CallOutcome[] = ['success', 'failure', 'rejected', 'ignored'];

/** The `metrics()` snapshot: the health JSON shape (service, state, failure_count, ...), plus what operators also need. */
export interface CircuitBreakerSnapshot {
  service: string;
  state: CircuitState;
  /** Failures counted toward opening: the current consecutive streak. */
  failure_count: number;
  /** Successful calls since creation or the last reset. */
  success_count: number;
  last_failure_time: string | null;
  /** The failure that last counted, credentials removed; null since creation or reset. */
  last_failure: LastFailure | null;
  state_changed_at: string | null;
  config: {
    failure_threshold: number | null;
    /** Seconds (the health JSON's unit). */
    recovery_timeout: number;
    half_open_max_calls: number;
    half_open_max_wait: number;
    call_timeout: number | null;
    /** Null when the backoff is a custom function. */
    max_recovery_timeout: number | null;
    failure_rate: { threshold: number; minimum_calls: number; window: string } | null;
    slow_call: {
      duration_threshold: number;
      rate_threshold: number;
      minimum_calls: number;
      window: string;
    } | null;
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
  /** Failure rate over the sliding window, when a failure-rate policy is configured. */
  failure_rate: { rate: number; calls: number; failures: number } | null;
  /** Slow-call rate over the same window, when a slow-call policy is configured. */
  slow_call_rate: { rate: number; calls: number; slow: number } | null;
  /** Times the circuit opened, lifetime. */
  opened_count: number;
}

/** What the snapshot is built from: the breaker's parts, read-only. */
export interface SnapshotSources {
  options: ResolvedOptions;
  machine: StateMachine;
  metrics: CallMetrics;
  /** The consecutive streak (the snapshot's failure_count). */
  streak: number;
  /** The rate window's snapshot, when a rate policy is configured. */
  window: (PolicySnapshot & { kind: 'sliding_window' }) | undefined;
  now: number;
  wallNow: number;
}

function windowLabel(window: SlidingWindow): string {
  return window.type === 'count' ? `${window.size} calls` : `${window.durationMs / 1000} s`;
}

/**
 * Builds the snake_case snapshot (the shape /health serves) from the breaker's parts.
 * Reading never changes anything: it is safe from a metrics scrape or a health check.
 */
export function buildSnapshot(src: SnapshotSources): CircuitBreakerSnapshot {
  const { options: o, machine, metrics, now, wallNow, window } = src;
  const iso = (t: number | undefined): string | null =>
    t === undefined ? null : new Date(wallNow - (now - t)).toISOString();
  const s = machine.current;
  const retryAfterMs = s.kind === CircuitState.Open ? Math.max(0, s.retryAt - now) : undefined;
  const lastFailureTime = iso(metrics.lastFailureAt);
  return {
    service: o.name,
    state: s.kind,
    failure_count: src.streak,
    success_count: metrics.successesSinceReset,
    last_failure_time: lastFailureTime,
    last_failure:
      lastFailureTime === null
        ? null
        : {
            error: errorName(metrics.lastFailure),
            message: errorMessage(metrics.lastFailure),
            at: lastFailureTime,
          },
    state_changed_at: iso(machine.stateChangedAt),
    config: {
      failure_threshold: Number.isFinite(o.failureThreshold) ? o.failureThreshold : null,
      recovery_timeout: o.recoveryTimeout / 1000,
      half_open_max_calls: o.halfOpenMaxCalls,
      half_open_max_wait: o.halfOpenMaxWait / 1000,
      call_timeout: o.callTimeout === undefined ? null : o.callTimeout / 1000,
      max_recovery_timeout: o.maxRecoveryTimeout === null ? null : o.maxRecoveryTimeout / 1000,
      failure_rate:
        o.failureRate === undefined
          ? null
          : {
              threshold: o.failureRate.threshold,
              minimum_calls: o.failureRate.minimumCalls,
              window: windowLabel(o.window!),
            },
      slow_call:
        o.slowCall === undefined
          ? null
          : {
              duration_threshold: o.slowCall.durationThreshold / 1000,
              rate_threshold: o.slowCall.rateThreshold,
              minimum_calls: o.slowCall.minimumCalls,
              window: windowLabel(o.window!),
            },
    },
    critical: o.critical,
    mode: machine.mode,
    retry_after_seconds:
      retryAfterMs === undefined || !Number.isFinite(retryAfterMs) ? null : retryAfterMs / 1000,
    time_in_state_seconds: (now - machine.stateChangedAt) / 1000,
    calls: { ...metrics.totals },
    timeouts: metrics.timeouts,
    failure_rate:
      o.failureRate === undefined || window === undefined
        ? null
        : { rate: window.failureRate, calls: window.calls, failures: window.failures },
    slow_call_rate:
      o.slowCall === undefined || window === undefined
        ? null
        : { rate: window.slowCallRate, calls: window.calls, slow: window.slow },
    opened_count: machine.openedCount,
  };
}
