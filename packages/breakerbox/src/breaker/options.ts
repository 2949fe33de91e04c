import {
  exponentialBackoff,
  functionBackoff,
  MAX_DELAY_MS,
  type Backoff,
  type RandomSource,
} from './backoff.js';
import type { Clock, Scheduler } from './clock.js';
import { BreakerConfigError } from './errors/index.js';
import type { FailureRateOptions, SlowCallOptions } from './policies/rate.js';
import type { SlidingWindow } from './policies/sliding-window.js';
import type { BreakerRegistry } from './registry.js';
import type { BreakerStateExport } from './state-export.js';

export interface BackoffOptions {
  /** Each consecutive reopen multiplies the recovery timeout by this (default 2). */
  multiplier?: number;
  /** The recovery timeout never grows past this, in milliseconds. */
  maxRecoveryTimeout: number;
  /**
   * `decorrelated`: each open lasts a random time in [recoveryTimeout, 3 x the previous one],
   * capped, so a fleet of instances does not probe a recovering dependency in lockstep.
   * Default `none`.
   */
  jitter?: 'none' | 'decorrelated';
}

export interface CircuitBreakerOptions {
  /** Unique within its registry; used in every metric, log line and error. */
  name: string;
  /** Consecutive failures that open the circuit (default 5, or off when a rate policy is set). */
  failureThreshold?: number;
  /** Optional failure-rate policy over a sliding window; any policy may open the circuit. */
  failureRate?: FailureRateOptions;
  /** Optional slow-call-rate policy over the same sliding window as `failureRate`. */
  slowCall?: SlowCallOptions;
  /** How long OPEN lasts before a probe is let through, in milliseconds (default 30 000). */
  recoveryTimeout?: number;
  /**
   * Optional growth of the recovery timeout over repeated opens without a close in between:
   * capped exponential (with optional decorrelated jitter), or a function of the number of
   * reopens (0 for the first open) returning milliseconds.
   */
  backoff?: BackoffOptions | ((reopens: number) => number);
  /** Probes admitted in HALF_OPEN; this many successes close the circuit (default 1). */
  halfOpenMaxCalls?: number;
  /**
   * Longest HALF_OPEN may last, > 0; unfinished probes then count as failed (default 60 000 ms).
   * 0 is rejected: it would expire every probe at once, and "no limit" would let a dropped
   * permit wedge HALF_OPEN forever.
   */
  halfOpenMaxWait?: number;
  /** Optional per-call timeout in ms: the call's AbortSignal fires and the call counts as failed. */
  callTimeout?: number;
  /** Which errors are dependency failures; others are `ignored` (neither success nor failure). */
  isFailure?: (error: unknown) => boolean;
  /** A resolved value that is a failure all the same (an API that answers with an error status). */
  isFailureResult?: (result: unknown) => boolean;
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
  /** Random numbers for jittered backoff (default `Math.random`; `seededRandom(n)` in tests). */
  random?: RandomSource;
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
  slowCall: SlowCallOptions | undefined;
  /** The window the rate policies share; undefined with no rate policy. */
  window: SlidingWindow | undefined;
  recoveryTimeout: number;
  /** Null when the backoff is a user function (its cap is its own business). */
  maxRecoveryTimeout: number | null;
  recoveryBackoff: Backoff | undefined;
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

/** Every duration: a finite number of ms a timer can honour (Node fires longer ones at once). */
export function durationMs(option: string, value: number, allowZero: boolean): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!allowZero && value === 0) ||
    value > MAX_DELAY_MS
  ) {
    throw new BreakerConfigError(
      option,
      `expected a number of ms ${allowZero ? '>= 0' : '> 0'} and <= ${MAX_DELAY_MS}, got ${String(value)}`,
    );
  }
  return value;
}

function rate(option: string, value: number): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new BreakerConfigError(option, `expected a number in (0, 1], got ${String(value)}`);
  }
  return value;
}

function validateWindow(option: string, window: SlidingWindow): SlidingWindow {
  if (window.type === 'count') {
    positiveInteger(`${option}.size`, window.size);
  } else if (window.type === 'time') {
    durationMs(`${option}.durationMs`, window.durationMs, false);
    positiveInteger(`${option}.buckets`, window.buckets ?? 10);
  } else {
    throw new BreakerConfigError(`${option}.type`, "expected 'count' or 'time'");
  }
  return window;
}

/**
 * A minimum larger than a count window can hold would never be reached, so the policy could
 * never trip. It is rejected (cockatiel's choice) rather than silently capped (Resilience4j's).
 */
function minimumCalls(option: string, value: number, window: SlidingWindow): number {
  positiveInteger(option, value);
  if (window.type === 'count' && value > window.size) {
    throw new BreakerConfigError(
      option,
      `${value} is more than the count window holds (${window.size}): the policy could never trip`,
    );
  }
  return value;
}

const DEFAULT_WINDOW: SlidingWindow = { type: 'count', size: 100 };

export function resolveOptions(
  options: CircuitBreakerOptions,
  random: RandomSource,
): ResolvedOptions {
  if (typeof options.name !== 'string' || options.name.length === 0) {
    throw new BreakerConfigError('name', 'expected a non-empty string');
  }
  const { failureRate, slowCall } = options;
  if (failureRate?.window !== undefined && slowCall?.window !== undefined) {
    throw new BreakerConfigError(
      'slowCall.window',
      'the slow-call rate shares failureRate.window; set the window once',
    );
  }
  const window =
    failureRate === undefined && slowCall === undefined
      ? undefined
      : failureRate !== undefined
        ? validateWindow('failureRate.window', failureRate.window)
        : validateWindow('slowCall.window', slowCall?.window ?? DEFAULT_WINDOW);
  if (failureRate !== undefined) {
    rate('failureRate.threshold', failureRate.threshold);
    minimumCalls('failureRate.minimumCalls', failureRate.minimumCalls, window!);
  }
  if (slowCall !== undefined) {
    durationMs('slowCall.durationThreshold', slowCall.durationThreshold, false);
    rate('slowCall.rateThreshold', slowCall.rateThreshold);
    minimumCalls('slowCall.minimumCalls', slowCall.minimumCalls, window!);
  }
  const failureThreshold =
    options.failureThreshold === undefined
      ? window === undefined
        ? 5
        : Infinity
      : options.failureThreshold === Infinity
        ? Infinity
        : positiveInteger('failureThreshold', options.failureThreshold);
  const recoveryTimeout = durationMs('recoveryTimeout', options.recoveryTimeout ?? 30_000, true);

  let maxRecoveryTimeout: number | null = recoveryTimeout;
  let recoveryBackoff: Backoff | undefined;
  const backoff = options.backoff;
  if (typeof backoff === 'function') {
    maxRecoveryTimeout = null;
    recoveryBackoff = functionBackoff(backoff, recoveryTimeout);
  } else if (backoff !== undefined) {
    const multiplier = backoff.multiplier ?? 2;
    if (!(multiplier >= 1 && Number.isFinite(multiplier))) {
      throw new BreakerConfigError('backoff.multiplier', 'expected a finite number >= 1');
    }
    maxRecoveryTimeout = durationMs('backoff.maxRecoveryTimeout', backoff.maxRecoveryTimeout, true);
    if (maxRecoveryTimeout < recoveryTimeout) {
      throw new BreakerConfigError('backoff.maxRecoveryTimeout', 'must be >= recoveryTimeout');
    }
    const jitter = backoff.jitter ?? 'none';
    if (jitter !== 'none' && jitter !== 'decorrelated') {
      throw new BreakerConfigError('backoff.jitter', "expected 'none' or 'decorrelated'");
    }
    recoveryBackoff = exponentialBackoff({
      initialDelay: recoveryTimeout,
      maxDelay: maxRecoveryTimeout,
      multiplier,
      jitter,
      random,
    });
  }
  const callTimeout =
    options.callTimeout === undefined
      ? undefined
      : durationMs('callTimeout', options.callTimeout, false);
  return {
    name: options.name,
    failureThreshold,
    failureRate,
    slowCall,
    window,
    recoveryTimeout,
    maxRecoveryTimeout,
    recoveryBackoff,
    halfOpenMaxCalls: positiveInteger('halfOpenMaxCalls', options.halfOpenMaxCalls ?? 1),
    halfOpenMaxWait: durationMs('halfOpenMaxWait', options.halfOpenMaxWait ?? 60_000, false),
    callTimeout,
    critical: options.critical ?? false,
  };
}

/**
 * How long the open about to start lasts: `reopens` consecutive reopens so far (0 for the
 * first open) and the previous open's length (for decorrelated jitter).
 */
export function recoveryTimeoutFor(
  options: ResolvedOptions,
  reopens: number,
  previous: number,
): number {
  const backoff = options.recoveryBackoff;
  return backoff === undefined ? options.recoveryTimeout : backoff.delay(reopens, previous);
}
