import { CallMetrics } from './call-metrics.js';
import { systemClock, systemScheduler, type Clock } from './clock.js';
import { DeadlineQueue } from './deadline-queue.js';
import type { DurationHistogram, HistogramSnapshot } from './duration-histogram.js';
import {
  BreakerConfigError,
  CallTimeoutError,
  CircuitOpenError,
  FailureResultError,
} from './errors/index.js';
import { EventEmitter, type Disposable, type Event } from './events.js';
import { errorName } from './last-failure.js';
import { resolveOptions, type CircuitBreakerOptions, type ResolvedOptions } from './options.js';
import { AnyOfPolicy } from './policies/any-of.js';
import { ConsecutiveFailuresPolicy } from './policies/consecutive-failures.js';
import { RatePolicy } from './policies/rate.js';
import type { TripPolicy, TripReason } from './policies/trip-policy.js';
import { defaultRegistry, type BreakerRegistry } from './registry.js';
import { buildSnapshot, type CallOutcome, type CircuitBreakerSnapshot } from './snapshot.js';
import { STATE_EXPORT_VERSION, type BreakerStateExport } from './state-export.js';
import { REJECTED, StateMachine, transitionIndex } from './state-machine.js';
import { CIRCUIT_STATES, CircuitState, type BreakerMode, type TransitionReason } from './state.js';

/** What a protected function receives: a signal that fires on timeout or caller abort. */
export interface CallContext {
  readonly signal: AbortSignal;
}

/** Permission for one call made outside `execute`; report its outcome exactly once. */
export interface Permit {
  /** The call succeeded. Returns false if this permit was already settled. */
  success(): boolean;
  /** The call failed; `error` goes through the breaker's error filter. */
  failure(error?: unknown): boolean;
  /** The call's outcome says nothing about the dependency (e.g. the caller gave up). */
  ignore(): boolean;
}

export interface StateChangeEvent {
  readonly breaker: CircuitBreaker;
  readonly from: CircuitState;
  readonly to: CircuitState;
  readonly reason: TransitionReason;
  /** Consecutive failures at the moment of the transition. */
  readonly failureCount: number;
  /** Monotonic time of the transition. */
  readonly at: number;
  /** The failure that caused an opening (failure threshold, failure rate, failed probe). */
  readonly lastFailure: unknown;
  /** That failure's name or code; undefined when no failure caused the change. */
  readonly errorName: string | undefined;
}

/** Manual control changed the mode (isolate, disable, reset); fired even with no state change. */
export interface ModeChangeEvent {
  readonly breaker: CircuitBreaker;
  readonly from: BreakerMode;
  readonly to: BreakerMode;
  readonly at: number;
}

export interface FailureEvent {
  readonly breaker: CircuitBreaker;
  readonly error: unknown;
}

/**
 * Calls with no timeout and no caller signal share one signal that never fires. Listeners
 * added to it could never run, so adding one is a no-op: code that subscribes on every call
 * (as fetch does) must not pile listeners onto a shared object forever.
 */
const NEVER_ABORTED: CallContext = { signal: neverAbortedSignal() };

/** Reasons whose transition a failure caused, so the event carries that failure. */
const FAILURE_REASONS: ReadonlySet<TransitionReason> = new Set([
  'failure_threshold',
  'failure_rate',
  'probe_failure',
]);

// Module-internal access for permits: the settle methods stay #private (out of the .d.ts).
let settleSuccessOf: (breaker: CircuitBreaker, token: number, start: number) => void;
let settleErrorOf: (breaker: CircuitBreaker, token: number, start: number, error: unknown) => void;
let settleIgnoredOf: (breaker: CircuitBreaker, token: number, start: number) => void;

/**
 * A circuit breaker: CLOSED lets calls through and watches failures, OPEN fails fast,
 * HALF_OPEN lets exactly `halfOpenMaxCalls` probes through to test recovery.
 *
 * This class is admission and timeouts: it runs calls and routes their outcomes. Each other
 * job has one owner: `StateMachine` (every transition), `TripPolicy` (when to open),
 * `CallMetrics` (every count, once), `buildSnapshot` (the snake_case view) and the
 * `BreakerStateExport` format (persistence).
 *
 * An outcome reported after the state moved on (see `StateMachine.epoch`) is stale: it is
 * measured but does not move the state, so a slow call that started before the circuit
 * opened cannot extend the open period, and a late success from before the outage cannot
 * close a circuit that no probe has tested.
 */
export class CircuitBreaker implements Disposable {
  readonly name: string;
  readonly critical: boolean;

  readonly #options: ResolvedOptions;
  readonly #clock: Clock;
  readonly #wallClock: () => number;
  readonly #machine: StateMachine;
  readonly #metrics = new CallMetrics();
  readonly #successDurations: DurationHistogram;
  /** The consecutive streak: always present (Infinity threshold when off), it is failure_count. */
  readonly #streak: ConsecutiveFailuresPolicy;
  readonly #rates: RatePolicy | undefined;
  readonly #policy: TripPolicy;
  readonly #slowAfterMs: number;
  readonly #isFailure: ((error: unknown) => boolean) | undefined;
  readonly #isFailureResult: ((result: unknown) => boolean) | undefined;
  #deadlines: DeadlineQueue | undefined;
  #registry: BreakerRegistry | null;
  /** The error every rejection of the current epoch shares (one allocation per open period). */
  #rejection: CircuitOpenError | undefined = undefined;
  #rejectionEpoch = -1;

  readonly #stateChanged = new EventEmitter<StateChangeEvent>();
  readonly #modeChanged = new EventEmitter<ModeChangeEvent>();
  readonly #rejected = new EventEmitter<CircuitBreaker>();
  readonly #failed = new EventEmitter<FailureEvent>();

  /** Fires once per state change, synchronously, before the triggering call returns. */
  readonly onStateChange: Event<StateChangeEvent> = this.#stateChanged.event;
  /** Fires when isolate, disable or reset changes the mode. */
  readonly onModeChange: Event<ModeChangeEvent> = this.#modeChanged.event;
  /** Fires for every rejected call, with the breaker (no per-rejection allocation). */
  readonly onRejected: Event<CircuitBreaker> = this.#rejected.event;
  /** Fires for every call counted as a failure, stale or not. */
  readonly onFailure: Event<FailureEvent> = this.#failed.event;

  static {
    settleSuccessOf = (b, token, start) => b.#settleSuccess(token, start);
    settleErrorOf = (b, token, start, error) => b.#settleError(token, start, error, undefined);
    settleIgnoredOf = (b, token, start) => b.#settle(token, 'ignored', start, undefined);
  }

  constructor(options: CircuitBreakerOptions) {
    const o = resolveOptions(options, options.random ?? Math.random);
    this.#options = o;
    this.name = o.name;
    this.critical = o.critical;
    this.#clock = options.clock ?? systemClock;
    const scheduler =
      options.scheduler ?? (options.clock === undefined ? systemScheduler : undefined);
    this.#wallClock = options.wallClock ?? Date.now;
    this.#isFailure = options.isFailure;
    this.#isFailureResult = options.isFailureResult;
    this.#successDurations = this.#metrics.histograms.success;

    this.#streak = new ConsecutiveFailuresPolicy(o.failureThreshold);
    this.#rates =
      o.window === undefined ? undefined : new RatePolicy(o.window, o.failureRate, o.slowCall);
    this.#policy =
      this.#rates === undefined ? this.#streak : new AnyOfPolicy([this.#streak, this.#rates]);
    this.#slowAfterMs = o.slowCall === undefined ? Infinity : o.slowCall.durationThreshold;

    this.#machine = new StateMachine(o, this.#clock, scheduler, {
      onTransition: (from, to, reason, now) => this.#onTransition(from, to, reason, now),
      onModeChange: (from, to, now) => {
        if (this.#modeChanged.hasListeners) {
          this.#modeChanged.fire({ breaker: this, from, to, at: now });
        }
      },
    });
    if (o.callTimeout !== undefined) {
      this.#deadlines = new DeadlineQueue(this.#clock, scheduler ?? systemScheduler);
    }
    if (options.initialState !== undefined) this.#restore(options.initialState);

    this.#registry = options.registry === undefined ? defaultRegistry : options.registry;
    this.#registry?.register(this);
  }

  /**
   * The current state. Reading it never changes anything: transitions happen on calls and
   * on the breaker's own timers (without a scheduler, an expired OPEN or HALF_OPEN is
   * noticed by the next call).
   */
  get state(): CircuitState {
    return this.#machine.current.kind;
  }

  get mode(): BreakerMode {
    return this.#machine.mode;
  }

  // ---------------------------------------------------------------- calls

  /**
   * Runs `fn` if the circuit allows it. Always returns a promise: a rejection is a rejected
   * promise with a `CircuitOpenError`, never a synchronous throw.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
    const machine = this.#machine;
    if (machine.current.kind === CircuitState.Closed && this.#deadlines === undefined) {
      // The hot closed path: no admit() call, one clock read before and one after.
      return this.#run(
        fn,
        signal === undefined ? NEVER_ABORTED : { signal },
        machine.epoch,
        this.#clock.now(),
      );
    }
    const start = this.#clock.now();
    const token = machine.admit(start);
    if (token === REJECTED) return Promise.reject(this.#rejectCall(start));
    if (this.#deadlines !== undefined) return this.#runWithTimeout(fn, token, start, signal);
    return this.#run(fn, signal === undefined ? NEVER_ABORTED : { signal }, token, start);
  }

  /** Wraps a function so every call goes through `execute`. */
  protect<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
  ): (...args: A) => Promise<T> {
    return (...args: A) => this.execute(() => fn(...args));
  }

  /**
   * The synchronous permit check, for code that cannot be wrapped. Returns undefined when the
   * call must not be made (counted as rejected); otherwise a permit to settle exactly once.
   * A dropped permit cannot wedge HALF_OPEN: `halfOpenMaxWait` reopens the circuit.
   */
  tryAcquire(): Permit | undefined {
    const machine = this.#machine;
    if (machine.current.kind === CircuitState.Open && machine.timerDriven && !machine.recoveryDue) {
      // The hot open path: no clock read, no allocation.
      this.#metrics.totals.rejected++;
      if (this.#rejected.hasListeners) this.#rejected.fire(this);
      return undefined;
    }
    const start = this.#clock.now();
    const token = machine.admit(start);
    if (token === REJECTED) {
      this.#metrics.totals.rejected++;
      if (this.#rejected.hasListeners) this.#rejected.fire(this);
      return undefined;
    }
    return new BreakerPermit(this, token, start);
  }

  // ---------------------------------------------------------------- manual control

  /** Closes the circuit, leaves manual modes and clears the counts the plan's reset clears. */
  reset(): void {
    this.#machine.reset(this.#clock.now());
    this.#policy.reset();
    this.#metrics.reset();
  }

  /** Forces the circuit open until `reset()`: every call is rejected (isolation). */
  isolate(): void {
    this.#machine.isolate(this.#clock.now());
  }

  /**
   * Lets every call through until `reset()`, never trips, and keeps measuring everything:
   * the streak, the rate window and the lifetime counts (Resilience4j's metrics-only mode).
   */
  disable(): void {
    this.#machine.disable(this.#clock.now());
  }

  // ---------------------------------------------------------------- observation

  /** The seed plan's metrics snapshot, extended. Side-effect free. */
  metrics(): CircuitBreakerSnapshot {
    const now = this.#clock.now();
    return buildSnapshot({
      options: this.#options,
      machine: this.#machine,
      metrics: this.#metrics,
      streak: this.#streak.streak,
      window: this.#rates?.snapshot(now),
      now,
      wallNow: this.#wallClock(),
    });
  }

  /** The error that last counted as a failure (undefined since creation or reset). */
  get lastFailure(): unknown {
    return this.#metrics.lastFailure;
  }

  /** Lifetime count of calls with this outcome (monotonic; backs the calls counter). */
  callCount(outcome: CallOutcome): number {
    return this.#metrics.totals[outcome];
  }

  /** Lifetime count of calls slower than `slowCall.durationThreshold` (0 without one). */
  slowCallCount(): number {
    return this.#metrics.slowCalls;
  }

  /**
   * Lifetime counts of every transition that can happen (automatic, or manual: to closed or
   * open), zeros included: a counter series that exists at 0 before the first open lets
   * Prometheus' `increase()` see that first open.
   */
  transitions(): Array<{ from: CircuitState; to: CircuitState; count: number }> {
    const counts = this.#machine.transitionCounts;
    const result: Array<{ from: CircuitState; to: CircuitState; count: number }> = [];
    for (const from of CIRCUIT_STATES) {
      for (const to of CIRCUIT_STATES) {
        if (from === to || (to === CircuitState.HalfOpen && from !== CircuitState.Open)) continue;
        result.push({ from, to, count: counts[transitionIndex(from, to)]! });
      }
    }
    return result;
  }

  /** The cumulative duration histogram of calls with this outcome. */
  durations(outcome: CallOutcome): HistogramSnapshot {
    return this.#metrics.histograms[outcome].snapshot();
  }

  /** Portable state (cockatiel's `toJSON`), rate window included; pass it back as `initialState`. */
  toJSON(): BreakerStateExport {
    const now = this.#clock.now();
    const machine = this.#machine;
    const s = machine.current;
    const exported: BreakerStateExport = {
      version: STATE_EXPORT_VERSION,
      name: this.name,
      state: s.kind,
      mode: machine.mode,
      consecutiveFailures: this.#streak.streak,
      reopens: machine.reopens,
    };
    if (s.kind === CircuitState.Open && Number.isFinite(s.retryAt)) {
      exported.openRemainingMs = Math.max(0, s.retryAt - now);
    }
    if (this.#rates !== undefined) exported.window = this.#rates.export(now);
    return exported;
  }

  /** Stops timers, unregisters and drops listeners. Calls still work, without timers. */
  dispose(): void {
    this.#machine.dispose();
    this.#deadlines?.close();
    this.#deadlines = undefined;
    this.#registry?.unregister(this);
    this.#registry = null;
    this.#stateChanged.clear();
    this.#modeChanged.clear();
    this.#rejected.clear();
    this.#failed.clear();
  }

  // ---------------------------------------------------------------- internals

  #rejectCall(start: number): CircuitOpenError {
    const machine = this.#machine;
    let error = this.#rejection;
    if (error === undefined || this.#rejectionEpoch !== machine.epoch) {
      const s = machine.current;
      error = CircuitOpenError.until(
        this.name,
        s.kind,
        s.kind === CircuitState.Open ? s.retryAt : start,
        this.#clock,
        this.#metrics.lastFailure,
      );
      this.#rejection = error;
      this.#rejectionEpoch = machine.epoch;
    }
    const metrics = this.#metrics;
    metrics.totals.rejected++;
    metrics.histograms.rejected.record(this.#clock.now() - start);
    if (this.#rejected.hasListeners) this.#rejected.fire(this);
    return error;
  }

  #run<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    context: CallContext,
    token: number,
    start: number,
  ): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn(context);
    } catch (error) {
      this.#settleError(token, start, error, context.signal);
      return Promise.reject(error);
    }
    if (!isThenable(result)) {
      this.#settleValue(token, start, result);
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.#settleValue(token, start, value);
        return value;
      },
      (error: unknown) => {
        this.#settleError(token, start, error, context.signal);
        throw error;
      },
    );
  }

  #runWithTimeout<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    token: number,
    start: number,
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    const timeoutMs = this.#options.callTimeout!;
    const controller = new AbortController();
    const signal =
      callerSignal === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, callerSignal]);
    return new Promise<T>((resolve, reject) => {
      const deadline = this.#deadlines!.push(start + timeoutMs, () => {
        const error = new CallTimeoutError(this.name, timeoutMs);
        this.#metrics.timeouts++;
        this.#settle(token, 'failure', start, error);
        controller.abort(error);
        reject(error);
      });
      const onValue = (value: T): void => {
        if (deadline.done) return;
        deadline.done = true;
        this.#settleValue(token, start, value);
        resolve(value);
      };
      const onError = (error: unknown): void => {
        if (deadline.done) return;
        deadline.done = true;
        this.#settleError(token, start, error, callerSignal);
        reject(error);
      };
      try {
        const result = fn({ signal });
        if (isThenable(result)) result.then(onValue, onError);
        else onValue(result);
      } catch (error) {
        onError(error);
      }
    });
  }

  /** A resolved value: a success, unless `isFailureResult` says otherwise. */
  #settleValue(token: number, start: number, value: unknown): void {
    const classify = this.#isFailureResult;
    if (classify === undefined) return this.#settleSuccess(token, start);
    let failed: boolean;
    try {
      failed = classify(value);
    } catch {
      failed = true; // A broken classifier must not hide failures.
    }
    if (failed) this.#settle(token, 'failure', start, new FailureResultError(value));
    else this.#settleSuccess(token, start);
  }

  /** Classifies a thrown error: the caller's own abort and filtered errors are ignored. */
  #settleError(token: number, start: number, error: unknown, callerSignal?: AbortSignal): void {
    let counts: boolean;
    try {
      counts =
        callerSignal?.aborted !== true && (this.#isFailure === undefined || this.#isFailure(error));
    } catch {
      counts = true; // A broken filter must not hide failures.
    }
    this.#settle(token, counts ? 'failure' : 'ignored', start, error);
  }

  /** Records a success: the hot path, apart from `#settle` so it needs no dispatch. */
  #settleSuccess(token: number, start: number): void {
    const now = this.#clock.now();
    const duration = now - start;
    const metrics = this.#metrics;
    metrics.totals.success++;
    this.#successDurations.record(duration);
    const slow = duration > this.#slowAfterMs;
    if (slow) metrics.slowCalls++;
    const machine = this.#machine;
    if (token !== machine.epoch) return;
    const s = machine.current;
    if (s.kind === CircuitState.Closed) {
      // Disabled: measured like any call, but the verdict is not acted on.
      const reason = this.#policy.record(false, duration, now);
      if (reason !== undefined && machine.mode === 'normal') this.#trip(reason, now);
    } else if (s.kind === CircuitState.HalfOpen) {
      if (slow) machine.transition(CircuitState.Open, 'probe_slow', now);
      else if (++s.succeeded >= this.#options.halfOpenMaxCalls) {
        machine.transition(CircuitState.Closed, 'probe_success', now);
      }
    }
  }

  /** Records a failure or an ignored call; only a current-epoch outcome moves the state. */
  #settle(token: number, outcome: 'failure' | 'ignored', start: number, error: unknown): void {
    const now = this.#clock.now();
    const duration = now - start;
    const metrics = this.#metrics;
    metrics.totals[outcome]++;
    metrics.histograms[outcome].record(duration);
    if (duration > this.#slowAfterMs) metrics.slowCalls++;
    if (outcome === 'failure') metrics.failure(error, now);

    const machine = this.#machine;
    if (token === machine.epoch) {
      const s = machine.current;
      if (s.kind === CircuitState.Closed) {
        if (outcome === 'failure') {
          const reason = this.#policy.record(true, duration, now);
          if (reason !== undefined && machine.mode === 'normal') this.#trip(reason, now);
        }
      } else if (s.kind === CircuitState.HalfOpen) {
        if (outcome === 'failure') {
          this.#streak.record(true);
          machine.transition(CircuitState.Open, 'probe_failure', now);
        } else {
          s.admitted--; // An ignored probe proved nothing: its slot goes to the next call.
        }
      }
    }
    if (outcome === 'failure' && this.#failed.hasListeners) {
      this.#failed.fire({ breaker: this, error });
    }
  }

  #trip(reason: TripReason, now: number): void {
    this.#machine.transition(CircuitState.Open, reason, now);
  }

  #onTransition(from: CircuitState, to: CircuitState, reason: TransitionReason, now: number): void {
    const failureCount = this.#streak.streak;
    if (to === CircuitState.Closed) this.#policy.reset();
    this.#rejection = undefined;
    if (!this.#stateChanged.hasListeners) return;
    const lastFailure = FAILURE_REASONS.has(reason) ? this.#metrics.lastFailure : undefined;
    this.#stateChanged.fire({
      breaker: this,
      from,
      to,
      reason,
      failureCount,
      at: now,
      lastFailure,
      errorName: lastFailure === undefined ? undefined : errorName(lastFailure),
    });
  }

  #restore(saved: BreakerStateExport): void {
    if (saved.version !== 1 && saved.version !== STATE_EXPORT_VERSION) {
      throw new BreakerConfigError(
        'initialState.version',
        `expected 1 or ${STATE_EXPORT_VERSION}, got ${String(saved.version)}`,
      );
    }
    const now = this.#clock.now();
    this.#streak.restore(saved.consecutiveFailures);
    if (saved.window !== undefined) this.#rates?.restore(saved.window, now);
    this.#machine.restore(saved, now);
  }
}

class BreakerPermit implements Permit {
  #settled = false;

  constructor(
    private readonly breaker: CircuitBreaker,
    private readonly token: number,
    private readonly start: number,
  ) {}

  success(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    settleSuccessOf(this.breaker, this.token, this.start);
    return true;
  }

  failure(error?: unknown): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    settleErrorOf(this.breaker, this.token, this.start, error);
    return true;
  }

  ignore(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    settleIgnoredOf(this.breaker, this.token, this.start);
    return true;
  }
}

function neverAbortedSignal(): AbortSignal {
  const signal = new AbortController().signal;
  const ignore = (): void => undefined;
  Object.defineProperties(signal, {
    addEventListener: { value: ignore },
    removeEventListener: { value: ignore },
  });
  return signal;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}
