// The breaker's working parts, module-internal (not exported from the package): the facade
// CircuitBreaker owns one, so none of these members ship in the public type declarations.
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
import { EventEmitter, type Event } from './events.js';
import { errorName } from './last-failure.js';
import { resolveOptions, type CircuitBreakerOptions, type ResolvedOptions } from './options.js';
import { ConsecutiveFailuresPolicy } from './policies/consecutive-failures.js';
import { RatePolicy } from './policies/rate.js';
import type { TripReason } from './policies/trip-policy.js';
import { buildSnapshot, type CallOutcome, type CircuitBreakerSnapshot } from './snapshot.js';
import { STATE_EXPORT_VERSION, type BreakerStateExport } from './state-export.js';
import { REJECTED, StateMachine, transitionIndex } from './state-machine.js';
import { CIRCUIT_STATES, CircuitState, type BreakerMode, type TransitionReason } from './state.js';

import type {
  CallContext,
  CircuitBreaker,
  FailureEvent,
  ModeChangeEvent,
  Permit,
  StateChangeEvent,
} from './circuit-breaker.js';

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

/**
 * Admission and timeouts for one `CircuitBreaker`: it runs calls and routes their outcomes. Each other
 * job has one owner: `StateMachine` (every transition), `TripPolicy` (when to open),
 * `CallMetrics` (every count, once), `buildSnapshot` (the snake_case view) and the
 * `BreakerStateExport` format (persistence).
 *
 * An outcome reported after the state moved on (see `StateMachine.epoch`) is stale: it is
 * measured but does not move the state, so a slow call that started before the circuit
 * opened cannot extend the open period, and a late success from before the outage cannot
 * close a circuit that no probe has tested.
 */
export class BreakerCore {
  readonly name: string;
  readonly critical: boolean;

  private readonly _options: ResolvedOptions;
  private readonly _clock: Clock;
  private readonly _wallClock: () => number;
  private readonly _machine: StateMachine;
  private readonly _metrics = new CallMetrics();
  private readonly _successDurations: DurationHistogram;
  /**
   * The trip policies, held by their own types and called directly (no composite): the
   * closed path then makes no call through an interface. The streak is always present
   * (Infinity threshold when off): it is failure_count.
   */
  private readonly _streak: ConsecutiveFailuresPolicy;
  /** Failure rate and slow-call rate over one window; undefined with neither configured. */
  private readonly _rates: RatePolicy | undefined;
  private readonly _slowAfterMs: number;
  private readonly _isFailure: ((error: unknown) => boolean) | undefined;
  private readonly _isFailureResult: ((result: unknown) => boolean) | undefined;
  private _deadlines: DeadlineQueue | undefined;
  /** The error every rejection of the current epoch shares (one allocation per open period). */
  private _rejection: CircuitOpenError | undefined = undefined;
  private _rejectionEpoch = -1;

  private readonly _stateChanged = new EventEmitter<StateChangeEvent>();
  private readonly _modeChanged = new EventEmitter<ModeChangeEvent>();
  private readonly _rejected = new EventEmitter<CircuitBreaker>();
  private readonly _failed = new EventEmitter<FailureEvent>();

  /** Fires once per state change, synchronously, before the triggering call returns. */
  readonly onStateChange: Event<StateChangeEvent> = this._stateChanged.event;
  /** Fires when isolate, disable or reset changes the mode. */
  readonly onModeChange: Event<ModeChangeEvent> = this._modeChanged.event;
  /** Fires for every rejected call, with the breaker (no per-rejection allocation). */
  readonly onRejected: Event<CircuitBreaker> = this._rejected.event;
  /** Fires for every call counted as a failure, stale or not. */
  readonly onFailure: Event<FailureEvent> = this._failed.event;

  constructor(
    options: CircuitBreakerOptions,
    private readonly owner: CircuitBreaker,
  ) {
    const o = resolveOptions(options, options.random ?? Math.random);
    this._options = o;
    this.name = o.name;
    this.critical = o.critical;
    this._clock = options.clock ?? systemClock;
    const scheduler =
      options.scheduler ?? (options.clock === undefined ? systemScheduler : undefined);
    this._wallClock = options.wallClock ?? Date.now;
    this._isFailure = options.isFailure;
    this._isFailureResult = options.isFailureResult;
    this._successDurations = this._metrics.histograms.success;

    this._streak = new ConsecutiveFailuresPolicy(o.failureThreshold);
    this._rates =
      o.window === undefined ? undefined : new RatePolicy(o.window, o.failureRate, o.slowCall);
    this._slowAfterMs = o.slowCall === undefined ? Infinity : o.slowCall.durationThreshold;

    this._machine = new StateMachine(o, this._clock, scheduler, {
      onTransition: (from, to, reason, now) => this._onTransition(from, to, reason, now),
      onModeChange: (from, to, now) => {
        if (this._modeChanged.hasListeners) {
          this._modeChanged.fire({ breaker: this.owner, from, to, at: now });
        }
      },
    });
    if (o.callTimeout !== undefined) {
      this._deadlines = new DeadlineQueue(this._clock, scheduler ?? systemScheduler);
    }
    if (options.initialState !== undefined) this._restore(options.initialState);
  }

  /**
   * The current state. Reading it never changes anything: transitions happen on calls and
   * on the breaker's own timers (without a scheduler, an expired OPEN or HALF_OPEN is
   * noticed by the next call).
   */
  get state(): CircuitState {
    return this._machine.current.kind;
  }

  get mode(): BreakerMode {
    return this._machine.mode;
  }

  // ---------------------------------------------------------------- calls

  /**
   * Runs `fn` if the circuit allows it. Always returns a promise: a rejection is a rejected
   * promise with a `CircuitOpenError`, never a synchronous throw.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
    const machine = this._machine;
    if (machine.current.kind === CircuitState.Closed && this._deadlines === undefined) {
      // The hot closed path: no admit() call, one clock read before and one after.
      return this._run(
        fn,
        signal === undefined ? NEVER_ABORTED : { signal },
        machine.epoch,
        this._clock.now(),
      );
    }
    const start = this._clock.now();
    const token = machine.admit(start);
    if (token === REJECTED) return Promise.reject(this._rejectCall(start));
    if (this._deadlines !== undefined) return this._runWithTimeout(fn, token, start, signal);
    return this._run(fn, signal === undefined ? NEVER_ABORTED : { signal }, token, start);
  }

  /**
   * The synchronous permit check, for code that cannot be wrapped. Returns undefined when the
   * call must not be made (counted as rejected); otherwise a permit to settle exactly once.
   * A dropped permit cannot wedge HALF_OPEN: `halfOpenMaxWait` reopens the circuit.
   */
  tryAcquire(): Permit | undefined {
    const machine = this._machine;
    if (machine.current.kind === CircuitState.Open && machine.timerDriven && !machine.recoveryDue) {
      // The hot open path: no clock read, no allocation.
      this._metrics.totals.rejected++;
      if (this._rejected.hasListeners) this._rejected.fire(this.owner);
      return undefined;
    }
    const start = this._clock.now();
    const token = machine.admit(start);
    if (token === REJECTED) {
      this._metrics.totals.rejected++;
      if (this._rejected.hasListeners) this._rejected.fire(this.owner);
      return undefined;
    }
    return new BreakerPermit(this, token, start);
  }

  // ---------------------------------------------------------------- manual control

  /** Closes the circuit, leaves manual modes and clears the failure and success counts. */
  reset(): void {
    this._machine.reset(this._clock.now());
    this._resetPolicies();
    this._metrics.reset();
  }

  /** Forces the circuit open until `reset()`: every call is rejected (isolation). */
  isolate(): void {
    this._machine.isolate(this._clock.now());
  }

  /**
   * Lets every call through until `reset()`, never trips, and keeps measuring everything:
   * the streak, the rate window and the lifetime counts (Resilience4j's metrics-only mode).
   */
  disable(): void {
    this._machine.disable(this._clock.now());
  }

  // ---------------------------------------------------------------- observation

  /** The `metrics()` snapshot (service, state, failure_count, ... in snake_case), extended. Side-effect free. */
  metrics(): CircuitBreakerSnapshot {
    const now = this._clock.now();
    return buildSnapshot({
      options: this._options,
      machine: this._machine,
      metrics: this._metrics,
      streak: this._streak.streak,
      window: this._rates?.snapshot(now),
      now,
      wallNow: this._wallClock(),
    });
  }

  /** The error that last counted as a failure (undefined since creation or reset). */
  get lastFailure(): unknown {
    return this._metrics.lastFailure;
  }

  /** Lifetime count of calls with this outcome (monotonic; backs the calls counter). */
  callCount(outcome: CallOutcome): number {
    return this._metrics.totals[outcome];
  }

  /** Lifetime count of calls slower than `slowCall.durationThreshold` (0 without one). */
  slowCallCount(): number {
    return this._metrics.slowCalls;
  }

  /**
   * Lifetime counts of every transition that can happen (automatic, or manual: to closed or
   * open), zeros included: a counter series that exists at 0 before the first open lets
   * Prometheus' `increase()` see that first open.
   */
  transitions(): Array<{ from: CircuitState; to: CircuitState; count: number }> {
    const counts = this._machine.transitionCounts;
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
    return this._metrics.histograms[outcome].snapshot();
  }

  /** Portable state (cockatiel's `toJSON`), rate window included; pass it back as `initialState`. */
  toJSON(): BreakerStateExport {
    const now = this._clock.now();
    const machine = this._machine;
    const s = machine.current;
    const exported: BreakerStateExport = {
      version: STATE_EXPORT_VERSION,
      name: this.name,
      state: s.kind,
      mode: machine.mode,
      consecutiveFailures: this._streak.streak,
      reopens: machine.reopens,
    };
    if (s.kind === CircuitState.Open && Number.isFinite(s.retryAt)) {
      exported.openRemainingMs = Math.max(0, s.retryAt - now);
    }
    if (this._rates !== undefined) exported.window = this._rates.export(now);
    return exported;
  }

  /** Stops timers, unregisters and drops listeners. Calls still work, without timers. */
  dispose(): void {
    this._machine.dispose();
    this._deadlines?.close();
    this._deadlines = undefined;
    this._stateChanged.clear();
    this._modeChanged.clear();
    this._rejected.clear();
    this._failed.clear();
  }

  // ---------------------------------------------------------------- internals

  private _rejectCall(start: number): CircuitOpenError {
    const machine = this._machine;
    let error = this._rejection;
    if (error === undefined || this._rejectionEpoch !== machine.epoch) {
      const s = machine.current;
      error = CircuitOpenError.until(
        this.name,
        s.kind,
        s.kind === CircuitState.Open ? s.retryAt : start,
        this._clock,
        this._metrics.lastFailure,
      );
      this._rejection = error;
      this._rejectionEpoch = machine.epoch;
    }
    const metrics = this._metrics;
    metrics.totals.rejected++;
    metrics.histograms.rejected.record(this._clock.now() - start);
    if (this._rejected.hasListeners) this._rejected.fire(this.owner);
    return error;
  }

  private _run<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    context: CallContext,
    token: number,
    start: number,
  ): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn(context);
    } catch (error) {
      this._settleError(token, start, error, context.signal);
      return Promise.reject(error);
    }
    if (!isThenable(result)) {
      this._settleValue(token, start, result);
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(
      (value) => {
        this._settleValue(token, start, value);
        return value;
      },
      (error: unknown) => {
        this._settleError(token, start, error, context.signal);
        throw error;
      },
    );
  }

  private _runWithTimeout<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    token: number,
    start: number,
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    const timeoutMs = this._options.callTimeout!;
    const controller = new AbortController();
    const signal =
      callerSignal === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, callerSignal]);
    return new Promise<T>((resolve, reject) => {
      const deadline = this._deadlines!.push(start + timeoutMs, () => {
        const error = new CallTimeoutError(this.name, timeoutMs);
        this._metrics.timeouts++;
        this._settle(token, 'failure', start, error);
        controller.abort(error);
        reject(error);
      });
      const onValue = (value: T): void => {
        if (deadline.done) return;
        deadline.done = true;
        this._settleValue(token, start, value);
        resolve(value);
      };
      const onError = (error: unknown): void => {
        if (deadline.done) return;
        deadline.done = true;
        this._settleError(token, start, error, callerSignal);
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
  private _settleValue(token: number, start: number, value: unknown): void {
    const classify = this._isFailureResult;
    if (classify === undefined) return this._settleSuccess(token, start);
    let failed: boolean;
    try {
      failed = classify(value);
    } catch {
      failed = true; // A broken classifier must not hide failures.
    }
    if (failed) this._settle(token, 'failure', start, new FailureResultError(value));
    else this._settleSuccess(token, start);
  }

  /** Classifies a thrown error: the caller's own abort and filtered errors are ignored. */
  _settleError(token: number, start: number, error: unknown, callerSignal?: AbortSignal): void {
    let counts: boolean;
    try {
      counts =
        callerSignal?.aborted !== true && (this._isFailure === undefined || this._isFailure(error));
    } catch {
      counts = true; // A broken filter must not hide failures.
    }
    this._settle(token, counts ? 'failure' : 'ignored', start, error);
  }

  /** Records a success: the hot path, apart from `#settle` so it needs no dispatch. */
  _settleSuccess(token: number, start: number): void {
    const now = this._clock.now();
    const duration = now - start;
    const metrics = this._metrics;
    metrics.totals.success++;
    this._successDurations.record(duration);
    const slow = duration > this._slowAfterMs;
    if (slow) metrics.slowCalls++;
    const machine = this._machine;
    if (token !== machine.epoch) return;
    const s = machine.current;
    if (s.kind === CircuitState.Closed) {
      // A success ends the streak and never trips it: only the rates can open here.
      this._streak.record(false);
      const rates = this._rates;
      if (rates !== undefined) {
        // Disabled: measured like any call, but the verdict is not acted on.
        const reason = rates.record(false, duration, now);
        if (reason !== undefined && machine.mode === 'normal') this._trip(reason, now);
      }
    } else if (s.kind === CircuitState.HalfOpen) {
      if (slow) machine.transition(CircuitState.Open, 'probe_slow', now);
      else if (++s.succeeded >= this._options.halfOpenMaxCalls) {
        machine.transition(CircuitState.Closed, 'probe_success', now);
      }
    }
  }

  /** Records a failure or an ignored call; only a current-epoch outcome moves the state. */
  _settle(token: number, outcome: 'failure' | 'ignored', start: number, error: unknown): void {
    const now = this._clock.now();
    const duration = now - start;
    const metrics = this._metrics;
    metrics.totals[outcome]++;
    metrics.histograms[outcome].record(duration);
    if (duration > this._slowAfterMs) metrics.slowCalls++;
    if (outcome === 'failure') metrics.failure(error, now);

    const machine = this._machine;
    if (token === machine.epoch) {
      const s = machine.current;
      if (s.kind === CircuitState.Closed) {
        if (outcome === 'failure') {
          // Both policies see every failure, even when the streak has decided; it names it.
          const streak = this._streak.record(true);
          const rate = this._rates?.record(true, duration, now);
          const reason = streak ?? rate;
          if (reason !== undefined && machine.mode === 'normal') this._trip(reason, now);
        }
      } else if (s.kind === CircuitState.HalfOpen) {
        if (outcome === 'failure') {
          this._streak.record(true);
          machine.transition(CircuitState.Open, 'probe_failure', now);
        } else {
          s.admitted--; // An ignored probe proved nothing: its slot goes to the next call.
        }
      }
    }
    if (outcome === 'failure' && this._failed.hasListeners) {
      this._failed.fire({ breaker: this.owner, error });
    }
  }

  private _resetPolicies(): void {
    this._streak.reset();
    this._rates?.reset();
  }

  private _trip(reason: TripReason, now: number): void {
    this._machine.transition(CircuitState.Open, reason, now);
  }

  private _onTransition(
    from: CircuitState,
    to: CircuitState,
    reason: TransitionReason,
    now: number,
  ): void {
    const failureCount = this._streak.streak;
    if (to === CircuitState.Closed) this._resetPolicies();
    this._rejection = undefined;
    if (!this._stateChanged.hasListeners) return;
    const lastFailure = FAILURE_REASONS.has(reason) ? this._metrics.lastFailure : undefined;
    this._stateChanged.fire({
      breaker: this.owner,
      from,
      to,
      reason,
      failureCount,
      at: now,
      lastFailure,
      errorName: lastFailure === undefined ? undefined : errorName(lastFailure),
    });
  }

  private _restore(saved: BreakerStateExport): void {
    if (saved.version !== 1 && saved.version !== STATE_EXPORT_VERSION) {
      throw new BreakerConfigError(
        'initialState.version',
        `expected 1 or ${STATE_EXPORT_VERSION}, got ${String(saved.version)}`,
      );
    }
    const now = this._clock.now();
    this._streak.restore(saved.consecutiveFailures);
    if (saved.window !== undefined) this._rates?.restore(saved.window, now);
    this._machine.restore(saved, now);
  }
}

class BreakerPermit implements Permit {
  private _settled = false;

  constructor(
    private readonly breaker: BreakerCore,
    private readonly token: number,
    private readonly start: number,
  ) {}

  success(): boolean {
    if (this._settled) return false;
    this._settled = true;
    this.breaker._settleSuccess(this.token, this.start);
    return true;
  }

  failure(error?: unknown): boolean {
    if (this._settled) return false;
    this._settled = true;
    this.breaker._settleError(this.token, this.start, error);
    return true;
  }

  ignore(): boolean {
    if (this._settled) return false;
    this._settled = true;
    this.breaker._settle(this.token, 'ignored', this.start, undefined);
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
