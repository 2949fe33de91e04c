import type { Clock, Scheduler } from './clock.js';
import { BreakerConfigError } from './errors/index.js';
import type { FailureRateOptions } from './policies/failure-rate.js';
import type { BreakerRegistry } from './registry.js';
import type { BreakerStateExport } from './snapshot.js';

export interface BackoffOptions {
  /** Each consecutive reopen multiplies the recovery timeout by this (default 2). */
  multiplier?: number;
  /** The recovery timeout never grows past this, in milliseconds. */
  maxRecoveryTimeout: number;
}

export interface CircuitBreakerOptions {
  /** Unique within its registry; used in every metric, log line and error. */
  name: string;
  /** Consecutive failures that open the circuit (default 5, or off when only `failureRate` is set). */
  failureThreshold?: number;
  /** Optional failure-rate policy over a sliding window; either policy may open the circuit. */
  failureRate?: FailureRateOptions;
  /** How long OPEN lasts before a probe is let through, in milliseconds (default 30 000). */
  recoveryTimeout?: number;
  /** Optional capped exponential backoff between repeated opens without a close in between. */
  backoff?: BackoffOptions;
  /** Probes admitted in HALF_OPEN; this many successes close the circuit (default 1). */
  halfOpenMaxCalls?: number;
  /** Longest HALF_OPEN may last; unfinished probes then count as failed (default 60 000 ms). */
  halfOpenMaxWait?: number;
  /** Optional per-call timeout in ms: the call's AbortSignal fires and the call counts as failed. */
  callTimeout?: number;
  /** Which errors are dependency failures; others are `ignored` (neither success nor failure). */
  isFailure?: (error: unknown) => boolean;
  /** A critical circuit makes the service unready while open (health and alerts read this). */
  critical?: boolean;
  /** Monotonic milliseconds (default `performance.now`). */
  clock?: Clock;
  /**
   * Timers for recovery, half-open expiry and call timeouts. Defaults to real unref'd timers
   * with the default clock. With a custom clock and no scheduler, time-based transitions are
   * checked against the clock on each call instead, so a bare `{ now }` clock fully drives it.
   */
  scheduler?: Scheduler;
  /** Wall-clock milliseconds, only to render ISO timestamps in `metrics()` (default `Date.now`). */
  wallClock?: () => number;
  /** Where the breaker registers itself (default: the process-wide registry; null: nowhere). */
  registry?: BreakerRegistry | null;
  /** State exported by `toJSON()` to start from (cockatiel's `initialState`). */
  initialState?: BreakerStateExport;
}

/** Options with defaults applied and validated. */
export interface ResolvedOptions {
  name: string;
  failureThreshold: number;
  failureRate: FailureRateOptions | undefined;
  recoveryTimeout: number;
  backoffMultiplier: number;
  maxRecoveryTimeout: number;
  halfOpenMaxCalls: number;
  halfOpenMaxWait: number;
  callTimeout: number | undefined;
  critical: boolean;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new BreakerConfigError(option, `expected a positive integer, got ${String(value)}`);
  }
  return value;
}

function nonNegativeMs(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new BreakerConfigError(
      option,
      `expected a finite number of ms >= 0, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveOptions(options: CircuitBreakerOptions): ResolvedOptions {
  if (typeof options.name !== 'string' || options.name.length === 0) {
    throw new BreakerConfigError('name', 'expected a non-empty string');
  }
  const rate = options.failureRate;
  if (rate !== undefined) {
    if (!(rate.threshold > 0 && rate.threshold <= 1)) {
      throw new BreakerConfigError('failureRate.threshold', 'expected a number in (0, 1]');
    }
    positiveInteger('failureRate.minimumCalls', rate.minimumCalls);
    if (rate.window.type === 'count') positiveInteger('failureRate.window.size', rate.window.size);
    else {
      if (!(rate.window.durationMs > 0)) {
        throw new BreakerConfigError('failureRate.window.durationMs', 'expected a number > 0');
      }
      positiveInteger('failureRate.window.buckets', rate.window.buckets ?? 10);
    }
  }
  const failureThreshold =
    options.failureThreshold === undefined
      ? rate === undefined
        ? 5
        : Infinity
      : options.failureThreshold === Infinity
        ? Infinity
        : positiveInteger('failureThreshold', options.failureThreshold);
  const recoveryTimeout = nonNegativeMs('recoveryTimeout', options.recoveryTimeout ?? 30_000);
  const multiplier = options.backoff?.multiplier ?? 2;
  if (options.backoff !== undefined && !(multiplier >= 1 && Number.isFinite(multiplier))) {
    throw new BreakerConfigError('backoff.multiplier', 'expected a finite number >= 1');
  }
  const maxRecoveryTimeout =
    options.backoff === undefined
      ? recoveryTimeout
      : nonNegativeMs('backoff.maxRecoveryTimeout', options.backoff.maxRecoveryTimeout);
  if (maxRecoveryTimeout < recoveryTimeout) {
    throw new BreakerConfigError('backoff.maxRecoveryTimeout', 'must be >= recoveryTimeout');
  }
  const callTimeout =
    options.callTimeout === undefined
      ? undefined
      : nonNegativeMs('callTimeout', options.callTimeout);
  if (callTimeout === 0) throw new BreakerConfigError('callTimeout', 'expected a number of ms > 0');
  return {
    name: options.name,
    failureThreshold,
    failureRate: rate,
    recoveryTimeout,
    backoffMultiplier: options.backoff === undefined ? 1 : multiplier,
    maxRecoveryTimeout,
    halfOpenMaxCalls: positiveInteger('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 1),
    halfOpenMaxWait: nonNegativeMs('halfOpenMaxWait', options.halfOpenMaxWait ?? 60_000),
    callTimeout,
    critical: options.critical ?? false,
  };
}

/** The recovery timeout after `reopens` consecutive reopens (0 for the first open). */
export function recoveryTimeoutFor(options: ResolvedOptions, reopens: number): number {
  const grown = options.recoveryTimeout * Math.pow(options.backoffMultiplier, reopens);
  return Math.min(grown, options.maxRecoveryTimeout);
}
