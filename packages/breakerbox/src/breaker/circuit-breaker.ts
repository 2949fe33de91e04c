import { systemClock, systemScheduler, type Clock, type Scheduler } from './clock.js';
import { DeadlineQueue } from './deadline-queue.js';
import { DurationHistogram, type HistogramSnapshot } from './duration-histogram.js';
import { CallTimeoutError, CircuitOpenError } from './errors/index.js';
import { EventEmitter, type Disposable, type Event } from './events.js';
import {
  recoveryTimeoutFor,
  resolveOptions,
  type CircuitBreakerOptions,
  type ResolvedOptions,
} from './options.js';
import { AnyOfPolicy } from './policies/any-of.js';
import { ConsecutiveFailuresPolicy } from './policies/consecutive-failures.js';
import { FailureRatePolicy } from './policies/failure-rate.js';
import type { TripPolicy } from './policies/trip-policy.js';
import { defaultRegistry, type BreakerRegistry } from './registry.js';
import type { BreakerStateExport, CallOutcome, CircuitBreakerSnapshot } from './snapshot.js';
import {
  CIRCUIT_STATES,
  CircuitState,
  isAllowedTransition,
  type BreakerMode,
  type StateData,
  type TransitionReason,
} from './state.js';

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
}

export interface FailureEvent {
  readonly breaker: CircuitBreaker;
  readonly error: unknown;
}

const CLOSED: StateData = { kind: CircuitState.Closed };
/**
 * Calls with no timeout and no caller signal share one signal that never fires. Listeners
 * added to it could never run, so adding one is a no-op: code that subscribes on every call
 * (as fetch does) must not pile listeners onto a shared object forever.
 */
const NEVER_ABORTED: CallContext = { signal: neverAbortedSignal() };
const REJECTED = -1;
const STATE_INDEX: Record<CircuitState, number> = { closed: 0, open: 1, half_open: 2 };

/**
 * A circuit breaker: CLOSED lets calls through and watches failures, OPEN fails fast,
 * HALF_OPEN lets exactly `halfOpenMaxCalls` probes through to test recovery.
 *
 * Every admitted call carries the epoch (transition count) it was admitted in. An outcome
 * reported after the state has moved on is stale: it is counted in the metrics but does not
 * move the state machine. So a slow call that started before the circuit opened cannot
 * extend the open period when it finally fails (the seed plan's `last_failure_time` reset
 * let a trickle of late failures hold a recovered dependency open), and a late success from
 * before the outage cannot close a circuit that no probe has tested.
 */
export class CircuitBreaker implements Disposable {
  readonly name: string;
  readonly critical: boolean;

  private readonly options: ResolvedOptions;
  private readonly clock: Clock;
  /** Present: timers drive time-based transitions. Absent: each call reads the clock. */
  private scheduler: Scheduler | undefined;
  private readonly wallClock: () => number;
  private readonly policy: TripPolicy;
  private readonly consecutive: ConsecutiveFailuresPolicy | undefined;
  private readonly isFailure: (error: unknown) => boolean;
  private deadlines: DeadlineQueue | undefined;
  private registry: BreakerRegistry | null;

  private current: StateData = CLOSED;
  private currentMode: BreakerMode = 'normal';
  private epoch = 0;
  private reopens = 0;
  /** Timer mode: set by the recovery timer so the open path needs no clock read. */
  private recoveryDue = false;
  private stateTimer: unknown = undefined;
  private stateChangedAt: number;
  private lastFailureAt: number | undefined = undefined;
  private consecutiveFailures = 0;
  private successCount = 0;

  private readonly totals: Record<CallOutcome, number> = {
    success: 0,
    failure: 0,
    rejected: 0,
    ignored: 0,
  };
  private timeoutCount = 0;
  /** The error every rejection of the current epoch shares (one allocation per open period). */
  private rejection: CircuitOpenError | undefined = undefined;
  private rejectionEpoch = -1;
  private openedCount = 0;
  private readonly transitionCounts = new Float64Array(9);
  private readonly histograms: Record<CallOutcome, DurationHistogram> = {
    success: new DurationHistogram(),
    failure: new DurationHistogram(),
    rejected: new DurationHistogram(),
    ignored: new DurationHistogram(),
  };

  private readonly successDurations = this.histograms.success;

  private readonly stateChanged = new EventEmitter<StateChangeEvent>();
  private readonly rejected = new EventEmitter<CircuitBreaker>();
  private readonly failed = new EventEmitter<FailureEvent>();

  /** Fires once per state change, synchronously, before the triggering call returns. */
  readonly onStateChange: Event<StateChangeEvent> = this.stateChanged.event;
  /** Fires for every rejected call, with the breaker (no per-rejection allocation). */
  readonly onRejected: Event<CircuitBreaker> = this.rejected.event;
  /** Fires for every call counted as a failure, stale or not. */
  readonly onFailure: Event<FailureEvent> = this.failed.event;

  constructor(options: CircuitBreakerOptions) {
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.critical = this.options.critical;
    this.clock = options.clock ?? systemClock;
    this.scheduler =
      options.scheduler ?? (options.clock === undefined ? systemScheduler : undefined);
    this.wallClock = options.wallClock ?? Date.now;
    this.isFailure = options.isFailure ?? (() => true);

    const policies: TripPolicy[] = [];
    if (Number.isFinite(this.options.failureThreshold)) {
      this.consecutive = new ConsecutiveFailuresPolicy(this.options.failureThreshold);
      policies.push(this.consecutive);
    }
    if (this.options.failureRate !== undefined) {
      policies.push(new FailureRatePolicy(this.options.failureRate));
    }
    this.policy = policies.length === 1 ? policies[0]! : new AnyOfPolicy(policies);

    if (this.options.callTimeout !== undefined) {
      this.deadlines = new DeadlineQueue(this.clock, this.scheduler ?? systemScheduler);
    }
    this.stateChangedAt = this.clock.now();
    if (options.initialState !== undefined) this.restore(options.initialState);

    this.registry = options.registry === undefined ? defaultRegistry : options.registry;
    this.registry?.register(this);
  }

  /** The current state. Reading it settles an expired HALF_OPEN first. */
  get state(): CircuitState {
    if (this.current.kind === CircuitState.HalfOpen) this.expireHalfOpen(this.clock.now());
    return this.current.kind;
  }

  get mode(): BreakerMode {
    return this.currentMode;
  }

  // ---------------------------------------------------------------- calls

  /**
   * Runs `fn` if the circuit allows it. Always returns a promise: a rejection is a rejected
   * promise with a `CircuitOpenError`, never a synchronous throw.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
    if (this.current.kind === CircuitState.Closed && this.deadlines === undefined) {
      // The hot closed path: no admit() call, one clock read before and one after.
      return this.run(
        fn,
        signal === undefined ? NEVER_ABORTED : { signal },
        this.epoch,
        this.clock.now(),
      );
    }
    const start = this.clock.now();
    const token = this.admit(start);
    if (token === REJECTED) return Promise.reject(this.rejectCall(start));
    if (this.deadlines !== undefined) return this.runWithTimeout(fn, token, start, signal);
    return this.run(fn, signal === undefined ? NEVER_ABORTED : { signal }, token, start);
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
    const s = this.current;
    if (s.kind === CircuitState.Open && this.scheduler !== undefined && !this.recoveryDue) {
      // The hot open path: no clock read, no allocation.
      this.totals.rejected++;
      if (this.rejected.hasListeners) this.rejected.fire(this);
      return undefined;
    }
    const start = this.clock.now();
    const token = this.admit(start);
    if (token === REJECTED) {
      this.totals.rejected++;
      if (this.rejected.hasListeners) this.rejected.fire(this);
      return undefined;
    }
    return new BreakerPermit(this, token, start);
  }

  // ---------------------------------------------------------------- manual control

  /** Closes the circuit, leaves manual modes and clears the counts the plan's reset clears. */
  reset(): void {
    const now = this.clock.now();
    this.currentMode = 'normal';
    if (this.current.kind !== CircuitState.Closed)
      this.transition(CircuitState.Closed, 'manual_reset', now);
    this.consecutiveFailures = 0;
    this.successCount = 0;
    this.lastFailureAt = undefined;
    this.reopens = 0;
    this.policy.reset();
  }

  /** Forces the circuit open until `reset()`: every call is rejected (isolation). */
  isolate(): void {
    const now = this.clock.now();
    this.currentMode = 'isolated';
    if (this.current.kind === CircuitState.Open) {
      this.clearStateTimer();
      this.recoveryDue = false;
      this.rejection = undefined; // its retryAt is no longer true
      this.current = {
        kind: CircuitState.Open,
        openedAt: this.current.openedAt,
        retryAt: Infinity,
      };
    } else {
      this.transition(CircuitState.Open, 'manual_open', now);
    }
  }

  /** Lets every call through and keeps measuring, but never trips, until `reset()`. */
  disable(): void {
    this.currentMode = 'disabled';
    if (this.current.kind !== CircuitState.Closed) {
      this.transition(CircuitState.Closed, 'manual_disable', this.clock.now());
    }
  }

  // ---------------------------------------------------------------- observation

  /** The seed plan's metrics snapshot, extended. */
  metrics(): CircuitBreakerSnapshot {
    const state = this.state;
    const now = this.clock.now();
    const wallNow = this.wallClock();
    const iso = (t: number | undefined): string | null =>
      t === undefined ? null : new Date(wallNow - (now - t)).toISOString();
    const o = this.options;
    const rate = o.failureRate === undefined ? undefined : this.policy.snapshot(now);
    const s = this.current;
    const retryAfterMs = s.kind === CircuitState.Open ? Math.max(0, s.retryAt - now) : undefined;
    return {
      service: this.name,
      state,
      failure_count: this.consecutiveFailures,
      success_count: this.successCount,
      last_failure_time: iso(this.lastFailureAt),
      state_changed_at: iso(this.stateChangedAt),
      config: {
        failure_threshold: Number.isFinite(o.failureThreshold) ? o.failureThreshold : null,
        recovery_timeout: o.recoveryTimeout / 1000,
        half_open_max_calls: o.halfOpenMaxCalls,
        half_open_max_wait: o.halfOpenMaxWait / 1000,
        call_timeout: o.callTimeout === undefined ? null : o.callTimeout / 1000,
        max_recovery_timeout: o.maxRecoveryTimeout / 1000,
        failure_rate:
          o.failureRate === undefined
            ? null
            : {
                threshold: o.failureRate.threshold,
                minimum_calls: o.failureRate.minimumCalls,
                window:
                  o.failureRate.window.type === 'count'
                    ? `${o.failureRate.window.size} calls`
                    : `${o.failureRate.window.durationMs / 1000} s`,
              },
      },
      critical: this.critical,
      mode: this.currentMode,
      retry_after_seconds:
        retryAfterMs === undefined || !Number.isFinite(retryAfterMs) ? null : retryAfterMs / 1000,
      time_in_state_seconds: (now - this.stateChangedAt) / 1000,
      calls: { ...this.totals },
      timeouts: this.timeoutCount,
      failure_rate:
        rate === undefined
          ? null
          : { rate: rate.failureRate ?? 0, calls: rate.windowCalls ?? 0, failures: rate.failures },
      opened_count: this.openedCount,
    };
  }

  /** Lifetime count of calls with this outcome (monotonic; backs the calls counter). */
  callCount(outcome: CallOutcome): number {
    return this.totals[outcome];
  }

  /**
   * Lifetime counts of every transition that can happen (automatic, or manual: to closed or
   * open), zeros included: a counter series that exists at 0 before the first open lets
   * Prometheus' `increase()` see that first open.
   */
  transitions(): Array<{ from: CircuitState; to: CircuitState; count: number }> {
    const result: Array<{ from: CircuitState; to: CircuitState; count: number }> = [];
    for (const from of CIRCUIT_STATES) {
      for (const to of CIRCUIT_STATES) {
        if (from === to || (to === CircuitState.HalfOpen && from !== CircuitState.Open)) continue;
        const count = this.transitionCounts[STATE_INDEX[from] * 3 + STATE_INDEX[to]]!;
        result.push({ from, to, count });
      }
    }
    return result;
  }

  /** The cumulative duration histogram of calls with this outcome. */
  durations(outcome: CallOutcome): HistogramSnapshot {
    return this.histograms[outcome].snapshot();
  }

  /** Portable state (cockatiel's `toJSON`); pass it back as `initialState`. */
  toJSON(): BreakerStateExport {
    const s = this.current;
    const exported: BreakerStateExport = {
      version: 1,
      name: this.name,
      state: s.kind,
      mode: this.currentMode,
      consecutiveFailures: this.consecutiveFailures,
      reopens: this.reopens,
    };
    if (s.kind === CircuitState.Open && Number.isFinite(s.retryAt)) {
      exported.openRemainingMs = Math.max(0, s.retryAt - this.clock.now());
    }
    return exported;
  }

  /** Stops timers, unregisters and drops listeners. Calls still work, without timers. */
  dispose(): void {
    this.clearStateTimer();
    this.deadlines?.close();
    this.deadlines = undefined;
    this.scheduler = undefined;
    this.registry?.unregister(this);
    this.registry = null;
    this.stateChanged.clear();
    this.rejected.clear();
    this.failed.clear();
  }

  // ---------------------------------------------------------------- internals

  /** Decides whether a call may go through; returns its epoch token or REJECTED. */
  private admit(now: number): number {
    let s = this.current;
    if (s.kind === CircuitState.Closed) return this.epoch;
    if (s.kind === CircuitState.Open) {
      const due = this.scheduler === undefined ? now >= s.retryAt : this.recoveryDue;
      if (!due) return REJECTED;
      // The call that notices recovery is due is itself the first probe (the plan let N+1 in).
      this.transition(CircuitState.HalfOpen, 'recovery_timeout', now);
      s = this.current;
    }
    if (s.kind !== CircuitState.HalfOpen || this.expireHalfOpen(now)) return REJECTED;
    if (s.admitted >= this.options.halfOpenMaxCalls) return REJECTED;
    s.admitted++;
    return this.epoch;
  }

  /** Reopens a HALF_OPEN past its deadline; true if it did. */
  private expireHalfOpen(now: number): boolean {
    const s = this.current;
    if (s.kind !== CircuitState.HalfOpen || now < s.deadline) return false;
    this.transition(CircuitState.Open, 'half_open_timeout', now);
    return true;
  }

  private rejectCall(start: number): CircuitOpenError {
    let error = this.rejection;
    if (error === undefined || this.rejectionEpoch !== this.epoch) {
      const s = this.current;
      error = CircuitOpenError.until(
        this.name,
        s.kind,
        s.kind === CircuitState.Open ? s.retryAt : start,
        this.clock,
      );
      this.rejection = error;
      this.rejectionEpoch = this.epoch;
    }
    this.totals.rejected++;
    this.histograms.rejected.record(this.clock.now() - start);
    if (this.rejected.hasListeners) this.rejected.fire(this);
    return error;
  }

  private run<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    context: CallContext,
    token: number,
    start: number,
  ): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn(context);
    } catch (error) {
      this.settleError(token, start, error, context.signal);
      return Promise.reject(error);
    }
    if (!isThenable(result)) {
      this.settleSuccess(token, start);
      return Promise.resolve(result);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.settleSuccess(token, start);
        return value;
      },
      (error: unknown) => {
        this.settleError(token, start, error, context.signal);
        throw error;
      },
    );
  }

  private runWithTimeout<T>(
    fn: (context: CallContext) => T | PromiseLike<T>,
    token: number,
    start: number,
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    const timeoutMs = this.options.callTimeout!;
    const controller = new AbortController();
    const signal =
      callerSignal === undefined
        ? controller.signal
        : AbortSignal.any([controller.signal, callerSignal]);
    return new Promise<T>((resolve, reject) => {
      const deadline = this.deadlines!.push(start + timeoutMs, () => {
        const error = new CallTimeoutError(this.name, timeoutMs);
        this.timeoutCount++;
        this.settle(token, 'failure', start, error);
        controller.abort(error);
        reject(error);
      });
      const onValue = (value: T): void => {
        if (deadline.done) return;
        deadline.done = true;
        this.settleSuccess(token, start);
        resolve(value);
      };
      const onError = (error: unknown): void => {
        if (deadline.done) return;
        deadline.done = true;
        this.settleError(token, start, error, callerSignal);
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

  /** @internal Classifies a thrown error: the caller's own abort and filtered errors are ignored. */
  settleError(token: number, start: number, error: unknown, callerSignal?: AbortSignal): void {
    let counts: boolean;
    try {
      counts = callerSignal?.aborted !== true && this.isFailure(error);
    } catch {
      counts = true; // A broken filter must not hide failures.
    }
    this.settle(token, counts ? 'failure' : 'ignored', start, error);
  }

  /** @internal Records a success: the hot path, apart from `settle` so it needs no dispatch. */
  settleSuccess(token: number, start: number): void {
    const now = this.clock.now();
    this.totals.success++;
    this.successDurations.record(now - start);
    this.successCount++;
    if (token !== this.epoch || this.currentMode !== 'normal') return;
    const s = this.current;
    if (s.kind === CircuitState.Closed) {
      this.consecutiveFailures = 0;
      this.policy.onSuccess(now);
    } else if (s.kind === CircuitState.HalfOpen && ++s.succeeded >= this.options.halfOpenMaxCalls) {
      this.transition(CircuitState.Closed, 'probe_success', now);
    }
  }

  /** @internal Records a failure or an ignored call; only a current-epoch outcome moves the state. */
  settle(token: number, outcome: 'failure' | 'ignored', start: number, error?: unknown): void {
    const now = this.clock.now();
    this.totals[outcome]++;
    this.histograms[outcome].record(now - start);
    if (outcome === 'failure') this.lastFailureAt = now;

    if (token === this.epoch && this.currentMode === 'normal') {
      const s = this.current;
      if (s.kind === CircuitState.Closed) {
        if (outcome === 'failure') {
          this.consecutiveFailures++;
          const reason = this.policy.onFailure(now);
          if (reason !== undefined) this.transition(CircuitState.Open, reason, now);
        }
      } else if (s.kind === CircuitState.HalfOpen) {
        if (outcome === 'failure') {
          this.consecutiveFailures++;
          this.transition(CircuitState.Open, 'probe_failure', now);
        } else {
          s.admitted--; // An ignored probe proved nothing: its slot goes to the next call.
        }
      }
    }
    if (outcome === 'failure' && this.failed.hasListeners)
      this.failed.fire({ breaker: this, error });
  }

  private transition(to: CircuitState, reason: TransitionReason, now: number): void {
    const from = this.current.kind;
    if (!isAllowedTransition(from, to, reason)) {
      throw new Error(
        `circuit breaker '${this.name}': illegal transition ${from} -> ${to} (${reason})`,
      );
    }
    const failureCount = this.consecutiveFailures;
    this.clearStateTimer();
    const epoch = ++this.epoch;
    if (to === CircuitState.Closed) {
      this.current = CLOSED;
      this.reopens = 0;
      this.consecutiveFailures = 0;
      this.policy.reset();
    } else if (to === CircuitState.Open) {
      if (from === CircuitState.HalfOpen && reason !== 'manual_open') this.reopens++;
      const timeout =
        reason === 'manual_open' ? Infinity : recoveryTimeoutFor(this.options, this.reopens);
      this.current = { kind: CircuitState.Open, openedAt: now, retryAt: now + timeout };
      this.openedCount++;
      this.recoveryDue = timeout <= 0;
      if (!this.recoveryDue && Number.isFinite(timeout)) {
        this.armStateTimer(epoch, timeout, () => {
          this.recoveryDue = true;
        });
      }
    } else {
      const wait = this.options.halfOpenMaxWait;
      this.current = {
        kind: CircuitState.HalfOpen,
        enteredAt: now,
        deadline: now + wait,
        admitted: 0,
        succeeded: 0,
      };
      this.armStateTimer(epoch, wait, () => this.expireHalfOpen(this.clock.now()));
    }
    this.stateChangedAt = now;
    this.transitionCounts[STATE_INDEX[from] * 3 + STATE_INDEX[to]]!++;
    if (this.stateChanged.hasListeners) {
      this.stateChanged.fire({ breaker: this, from, to, reason, failureCount, at: now });
    }
  }

  /** One timer per transition at most, never one per call; it ignores a later epoch. */
  private armStateTimer(epoch: number, delayMs: number, onFire: () => void): void {
    if (this.scheduler === undefined) return;
    this.stateTimer = this.scheduler.setTimeout(() => {
      this.stateTimer = undefined;
      if (this.epoch === epoch) onFire();
    }, delayMs);
  }

  private clearStateTimer(): void {
    if (this.stateTimer !== undefined) this.scheduler?.clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
  }

  private restore(saved: BreakerStateExport): void {
    const now = this.clock.now();
    this.consecutiveFailures = Math.max(0, Math.floor(saved.consecutiveFailures) || 0);
    this.consecutive?.restore(this.consecutiveFailures);
    this.reopens = Math.max(0, Math.floor(saved.reopens) || 0);
    if (saved.mode === 'isolated') {
      this.isolate();
    } else if (saved.mode === 'disabled') {
      this.currentMode = 'disabled';
    } else if (saved.state !== CircuitState.Closed) {
      // A saved HALF_OPEN restarts as an OPEN that is already due: the next call probes.
      const remaining = saved.state === CircuitState.Open ? (saved.openRemainingMs ?? 0) : 0;
      this.current = { kind: CircuitState.Open, openedAt: now, retryAt: now + remaining };
      this.recoveryDue = remaining <= 0;
      if (!this.recoveryDue) {
        this.armStateTimer(this.epoch, remaining, () => {
          this.recoveryDue = true;
        });
      }
    }
  }
}

class BreakerPermit implements Permit {
  private settled = false;

  constructor(
    private readonly breaker: CircuitBreaker,
    private readonly token: number,
    private readonly start: number,
  ) {}

  success(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.breaker.settleSuccess(this.token, this.start);
    return true;
  }

  failure(error?: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.breaker.settleError(this.token, this.start, error);
    return true;
  }

  ignore(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.breaker.settle(this.token, 'ignored', this.start);
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
