import { BreakerCore } from './breaker-core.js';
import type { HistogramSnapshot } from './duration-histogram.js';
import type { Disposable, Event } from './events.js';
import type { CircuitBreakerOptions } from './options.js';
import { defaultRegistry, type BreakerRegistry } from './registry.js';
import type { CallOutcome, CircuitBreakerSnapshot } from './snapshot.js';
import type { BreakerStateExport } from './state-export.js';
import type { BreakerMode, CircuitState, TransitionReason } from './state.js';

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
 * A circuit breaker: CLOSED lets calls through and watches failures, OPEN fails fast,
 * HALF_OPEN lets exactly `halfOpenMaxCalls` probes through to test recovery.
 *
 * The public face only: admission and timeouts live in a module-internal core (so no
 * internal member ships in the type declarations, and the hot path pays no private-method
 * brand checks), and each other job has one owner: `StateMachine` (every transition),
 * `TripPolicy` (when to open), `CallMetrics` (every count, once), `buildSnapshot` (the
 * snake_case view) and `BreakerStateExport` (persistence).
 */
export class CircuitBreaker implements Disposable {
  readonly name: string;
  readonly critical: boolean;
  readonly #core: BreakerCore;
  #registry: BreakerRegistry | null;

  /** Fires once per state change, synchronously, before the triggering call returns. */
  readonly onStateChange: Event<StateChangeEvent>;
  /** Fires when isolate, disable or reset changes the mode. */
  readonly onModeChange: Event<ModeChangeEvent>;
  /** Fires for every rejected call, with the breaker (no per-rejection allocation). */
  readonly onRejected: Event<CircuitBreaker>;
  /** Fires for every call counted as a failure, stale or not. */
  readonly onFailure: Event<FailureEvent>;

  constructor(options: CircuitBreakerOptions) {
    const core = new BreakerCore(options, this);
    this.#core = core;
    this.name = core.name;
    this.critical = core.critical;
    this.onStateChange = core.onStateChange;
    this.onModeChange = core.onModeChange;
    this.onRejected = core.onRejected;
    this.onFailure = core.onFailure;
    this.#registry = options.registry === undefined ? defaultRegistry : options.registry;
    this.#registry?.register(this);
  }

  /**
   * The current state. Reading it never changes anything: transitions happen on calls and
   * on the breaker's own timers (without a scheduler, an expired OPEN or HALF_OPEN is
   * noticed by the next call).
   */
  get state(): CircuitState {
    return this.#core.state;
  }

  get mode(): BreakerMode {
    return this.#core.mode;
  }

  /**
   * Runs `fn` if the circuit allows it. Always returns a promise: a rejection is a rejected
   * promise with a `CircuitOpenError`, never a synchronous throw.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
    return this.#core.execute(fn, signal);
  }

  /** Wraps a function so every call goes through `execute`. */
  protect<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
  ): (...args: A) => Promise<T> {
    return (...args: A) => this.#core.execute(() => fn(...args));
  }

  /**
   * The synchronous permit check, for code that cannot be wrapped. Returns undefined when the
   * call must not be made (counted as rejected); otherwise a permit to settle exactly once.
   * A dropped permit cannot wedge HALF_OPEN: `halfOpenMaxWait` reopens the circuit.
   */
  tryAcquire(): Permit | undefined {
    return this.#core.tryAcquire();
  }

  /** Closes the circuit, leaves manual modes and clears the failure and success counts. */
  reset(): void {
    this.#core.reset();
  }

  /** Forces the circuit open until `reset()`: every call is rejected (isolation). */
  isolate(): void {
    this.#core.isolate();
  }

  /**
   * Lets every call through until `reset()`, never trips, and keeps measuring everything:
   * the streak, the rate window and the lifetime counts (Resilience4j's metrics-only mode).
   */
  disable(): void {
    this.#core.disable();
  }

  /** The `metrics()` snapshot (service, state, failure_count, ... in snake_case), extended. Side-effect free. */
  metrics(): CircuitBreakerSnapshot {
    return this.#core.metrics();
  }

  /** The error that last counted as a failure (undefined since creation or reset). */
  get lastFailure(): unknown {
    return this.#core.lastFailure;
  }

  /** Lifetime count of calls with this outcome (monotonic; backs the calls counter). */
  callCount(outcome: CallOutcome): number {
    return this.#core.callCount(outcome);
  }

  /** Lifetime count of calls slower than `slowCall.durationThreshold` (0 without one). */
  slowCallCount(): number {
    return this.#core.slowCallCount();
  }

  /**
   * Lifetime counts of every transition that can happen (automatic, or manual: to closed or
   * open), zeros included: a counter series that exists at 0 before the first open lets
   * Prometheus' `increase()` see that first open.
   */
  transitions(): Array<{ from: CircuitState; to: CircuitState; count: number }> {
    return this.#core.transitions();
  }

  /** The cumulative duration histogram of calls with this outcome. */
  durations(outcome: CallOutcome): HistogramSnapshot {
    return this.#core.durations(outcome);
  }

  /** Portable state (cockatiel's `toJSON`), rate window included; pass it back as `initialState`. */
  toJSON(): BreakerStateExport {
    return this.#core.toJSON();
  }

  /** Stops timers, unregisters and drops listeners. Calls still work, without timers. */
  dispose(): void {
    this.#core.dispose();
    this.#registry?.unregister(this);
    this.#registry = null;
  }
}
