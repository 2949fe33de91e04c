import { metrics, type Counter, type MeterProvider } from '@opentelemetry/api';
import {
  exponentialBackoff,
  functionBackoff,
  type Backoff,
  type Jitter,
  type RandomSource,
} from './backoff.js';
import type { CallContext, CircuitBreaker } from './circuit-breaker.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from './clock.js';
import { BreakerConfigError, CircuitOpenError } from './errors/index.js';
import { durationMs } from './options.js';
import { CircuitState } from './state.js';

/** Why a retry loop stopped without a success. */
export type GiveUpReason = 'exhausted' | 'not_retryable' | 'circuit_open' | 'deadline' | 'aborted';

export interface RetryBackoffOptions {
  /** First delay in ms (default 100). */
  initialDelay?: number;
  /** Longest delay in ms (default 10 000). */
  maxDelay?: number;
  /** Default 2. */
  multiplier?: number;
  /** Default `full` (AWS full jitter): uniform in [0, exponential delay]. */
  jitter?: Jitter;
}

export interface RetryOptions {
  /** Used in telemetry attributes (default: the breaker's name, or `retry`). */
  name?: string;
  /** Attempts in all, the first included (default 3). */
  maxAttempts?: number;
  /** Capped exponential backoff with jitter, or a function of the retry (0 for the first) in ms. */
  backoff?: RetryBackoffOptions | ((retry: number) => number);
  /** Which errors are worth another attempt (default: all). A CircuitOpenError never is. */
  isRetryable?: (error: unknown) => boolean;
  /** Total time budget in ms, waits included: no wait ends past it, and a running attempt is aborted at it. */
  deadline?: number;
  /** Every attempt goes through this breaker: one breaker call per attempt. */
  breaker?: CircuitBreaker;
  clock?: Clock;
  /** Timers for the waits and the deadline. Default: real unref'd timers, or a FakeClock given as `clock`. */
  scheduler?: Scheduler;
  random?: RandomSource;
  /** Attempts and give-ups are counted here (default: the global provider, a no-op without an SDK). */
  meterProvider?: MeterProvider;
}

/** What each attempt receives: the attempt number (1 for the first) and a signal to honour. */
export interface AttemptContext extends CallContext {
  readonly attempt: number;
}

/** The retry loop ran past its total deadline. */
export class RetryDeadlineError extends Error {
  override readonly name = 'RetryDeadlineError';
  constructor(
    readonly deadlineMs: number,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} attempt(s): the ${deadlineMs} ms retry deadline passed`);
  }
}

export const METRIC_RETRY_ATTEMPTS = 'circuit_breaker.retry.attempts';
export const METRIC_RETRY_GIVE_UPS = 'circuit_breaker.retry.give_ups';
export const ATTR_RETRY_NAME = 'retry.name';

/**
 * Retries transient failures before they add up to an open circuit, composed with a breaker
 * the safe way round: every attempt is one `breaker.execute` call, a `CircuitOpenError` ends
 * the loop at once (it carries the breaker's retry-after), and after a failure that opened
 * the circuit there is no wait, because the next attempt could only be rejected.
 *
 * Waits run on the injected scheduler (a FakeClock in tests) and every timer it arms is
 * cleared before the returned promise settles.
 */
export class RetryPolicy {
  readonly name: string;
  readonly maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #isRetryable: (error: unknown) => boolean;
  readonly #deadline: number | undefined;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #clock: Clock;
  readonly #scheduler: Scheduler;
  readonly #attempts: Counter;
  readonly #giveUps: Counter;

  constructor(options: RetryOptions = {}) {
    this.name = options.name ?? options.breaker?.name ?? 'retry';
    const maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new BreakerConfigError(
        'retry.maxAttempts',
        `expected an integer >= 1, got ${String(maxAttempts)}`,
      );
    }
    this.maxAttempts = maxAttempts;
    const b = options.backoff;
    if (typeof b === 'function') {
      this.#backoff = functionBackoff(b, 0);
    } else {
      const initialDelay = durationMs('retry.backoff.initialDelay', b?.initialDelay ?? 100, true);
      const maxDelay = durationMs('retry.backoff.maxDelay', b?.maxDelay ?? 10_000, true);
      if (maxDelay < initialDelay) {
        throw new BreakerConfigError('retry.backoff.maxDelay', 'must be >= initialDelay');
      }
      const multiplier = b?.multiplier ?? 2;
      if (!(multiplier >= 1 && Number.isFinite(multiplier))) {
        throw new BreakerConfigError('retry.backoff.multiplier', 'expected a finite number >= 1');
      }
      this.#backoff = exponentialBackoff({
        initialDelay,
        maxDelay,
        multiplier,
        jitter: b?.jitter ?? 'full',
        random: options.random ?? Math.random,
      });
    }
    this.#isRetryable = options.isRetryable ?? (() => true);
    this.#deadline =
      options.deadline === undefined
        ? undefined
        : durationMs('retry.deadline', options.deadline, false);
    this.#breaker = options.breaker;
    this.#clock = options.clock ?? systemClock;
    this.#scheduler =
      options.scheduler ??
      (options.clock !== undefined && isScheduler(options.clock) ? options.clock : systemScheduler);
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('breakerbox');
    this.#attempts = meter.createCounter(METRIC_RETRY_ATTEMPTS, {
      description: 'Attempts made by retry policies, by outcome: success or failure',
    });
    this.#giveUps = meter.createCounter(METRIC_RETRY_GIVE_UPS, {
      description:
        'Retry loops that ended without a success, by reason: exhausted, not_retryable, circuit_open, deadline, aborted',
    });
  }

  /**
   * Runs `fn` until it succeeds, attempts run out, the error is not retryable, the circuit is
   * open, the deadline passes or `signal` aborts. Rejects with the last attempt's error (a
   * `RetryDeadlineError` at the deadline, the signal's reason on abort).
   */
  execute<T>(
    fn: (context: AttemptContext) => T | PromiseLike<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const started = this.#clock.now();
      const controller = new AbortController();
      let wait: unknown;
      let deadlineTimer: unknown;
      let done = false;
      let attempt = 0;
      let previousDelay = 0;
      let lastError: unknown;

      const finish = (error: unknown, reason: GiveUpReason | undefined, value?: T): void => {
        if (done) return;
        done = true;
        if (wait !== undefined) this.#scheduler.clearTimeout(wait);
        if (deadlineTimer !== undefined) this.#scheduler.clearTimeout(deadlineTimer);
        signal?.removeEventListener('abort', onAbort);
        if (reason === undefined) {
          resolve(value as T);
          return;
        }
        this.#giveUps.add(1, { [ATTR_RETRY_NAME]: this.name, reason });
        if (reason === 'deadline' || reason === 'aborted') controller.abort(error);
        reject(error);
      };
      const onAbort = (): void => finish(signal!.reason, 'aborted');

      const run = (): void => {
        wait = undefined;
        if (done) return;
        attempt++;
        const context: AttemptContext = { attempt, signal: controller.signal };
        const call =
          this.#breaker === undefined
            ? invoke(fn, context)
            : this.#breaker.execute(
                (inner) => fn({ attempt, signal: inner.signal }),
                controller.signal,
              );
        call.then(
          (value) => {
            if (done) return;
            this.#attempts.add(1, { [ATTR_RETRY_NAME]: this.name, outcome: 'success' });
            finish(undefined, undefined, value);
          },
          (error: unknown) => {
            if (done) return;
            lastError = error;
            if (error instanceof CircuitOpenError) {
              // Rejected without running: not an attempt at the dependency.
              finish(error, 'circuit_open');
              return;
            }
            this.#attempts.add(1, { [ATTR_RETRY_NAME]: this.name, outcome: 'failure' });
            this.#afterFailure(error, attempt, previousDelay, started, {
              giveUp: finish,
              retryIn: (delay) => {
                previousDelay = delay;
                wait = this.#scheduler.setTimeout(run, delay);
              },
            });
          },
        );
      };

      if (signal?.aborted === true) {
        finish(signal.reason, 'aborted');
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.#deadline !== undefined) {
        const deadlineMs = this.#deadline;
        deadlineTimer = this.#scheduler.setTimeout(() => {
          deadlineTimer = undefined;
          finish(new RetryDeadlineError(deadlineMs, attempt, lastError), 'deadline');
        }, deadlineMs);
      }
      run();
    });
  }

  #afterFailure(
    error: unknown,
    attempt: number,
    previousDelay: number,
    started: number,
    next: { giveUp: (error: unknown, reason: GiveUpReason) => void; retryIn: (ms: number) => void },
  ): void {
    let retryable: boolean;
    try {
      retryable = this.#isRetryable(error);
    } catch {
      retryable = false;
    }
    if (!retryable) return next.giveUp(error, 'not_retryable');
    if (attempt >= this.maxAttempts) return next.giveUp(error, 'exhausted');
    if (this.#breaker !== undefined && this.#breaker.state === CircuitState.Open) {
      return next.giveUp(error, 'circuit_open');
    }
    const delay = this.#backoff.delay(attempt - 1, previousDelay);
    if (this.#deadline !== undefined && this.#clock.now() + delay - started >= this.#deadline) {
      return next.giveUp(new RetryDeadlineError(this.#deadline, attempt, error), 'deadline');
    }
    next.retryIn(delay);
  }
}

function invoke<T>(
  fn: (context: AttemptContext) => T | PromiseLike<T>,
  context: AttemptContext,
): Promise<T> {
  try {
    return Promise.resolve(fn(context));
  } catch (error) {
    return Promise.reject(error);
  }
}

function isScheduler(value: object): value is Scheduler & Clock {
  const candidate = value as Partial<Scheduler>;
  return typeof candidate.setTimeout === 'function' && typeof candidate.clearTimeout === 'function';
}
