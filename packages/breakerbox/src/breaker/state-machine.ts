import type { Clock, Scheduler } from './clock.js';
import { recoveryTimeoutFor, type ResolvedOptions } from './options.js';
import { wholeNumber, type BreakerStateExport } from './state-export.js';
import {
  CircuitState,
  isAllowedTransition,
  type BreakerMode,
  type StateData,
  type TransitionReason,
} from './state.js';

/** What the owner of a machine hears: every state change and every mode change, once. */
export interface MachineListener {
  onTransition(from: CircuitState, to: CircuitState, reason: TransitionReason, now: number): void;
  onModeChange(from: BreakerMode, to: BreakerMode, now: number): void;
}

export const REJECTED = -1;
const CLOSED: StateData = { kind: CircuitState.Closed };
const STATE_INDEX: Record<CircuitState, number> = { closed: 0, open: 1, half_open: 2 };

/** Index of a from/to pair in `transitionCounts`. */
export function transitionIndex(from: CircuitState, to: CircuitState): number {
  return STATE_INDEX[from] * 3 + STATE_INDEX[to];
}

/**
 * The state machine: the current state, the mode, and every way they change. All state
 * changes go through `transition` (Resilience4j's CircuitBreakerStateMachine), which checks
 * the whitelist, arms the state's one timer and tells the listener; manual control and
 * restore use it too. It knows nothing of calls' outcomes or metrics.
 *
 * Every state change bumps `epoch`. An admitted call carries the epoch it was admitted in;
 * an outcome reported after the state moved on is stale and must not move the state.
 */
export class StateMachine {
  current: StateData = CLOSED;
  mode: BreakerMode = 'normal';
  epoch = 0;
  /** Consecutive reopens without a close in between (drives backoff). */
  reopens = 0;
  /** Timer mode: set by the recovery timer, so the open path needs no clock read. */
  recoveryDue = false;
  stateChangedAt: number;
  openedCount = 0;
  readonly transitionCounts = new Float64Array(9);
  private lastOpenFor = 0;
  private timer: unknown = undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly clock: Clock,
    /** Present: timers drive time-based transitions. Absent: each call reads the clock. */
    private scheduler: Scheduler | undefined,
    private readonly listener: MachineListener,
  ) {
    this.stateChangedAt = clock.now();
  }

  get timerDriven(): boolean {
    return this.scheduler !== undefined;
  }

  /** Decides whether a call may go through now; returns its epoch token or REJECTED. */
  admit(now: number): number {
    let s = this.current;
    if (s.kind === CircuitState.Closed) return this.epoch;
    if (s.kind === CircuitState.Open) {
      const due = this.scheduler === undefined ? now >= s.retryAt : this.recoveryDue;
      if (!due) return REJECTED;
      // The call that notices recovery is due is itself the first probe (counting it apart would let N+1 probes in).
      this.transition(CircuitState.HalfOpen, 'recovery_timeout', now);
      s = this.current;
    }
    if (s.kind !== CircuitState.HalfOpen || this.expireHalfOpen(now)) return REJECTED;
    if (s.admitted >= this.options.halfOpenMaxCalls) return REJECTED;
    s.admitted++;
    return this.epoch;
  }

  /** Reopens a HALF_OPEN past its deadline; true if it did. */
  expireHalfOpen(now: number): boolean {
    const s = this.current;
    if (s.kind !== CircuitState.HalfOpen || now < s.deadline) return false;
    this.transition(CircuitState.Open, 'half_open_timeout', now);
    return true;
  }

  /** The only place state changes. `openFor` overrides the computed open duration. */
  transition(to: CircuitState, reason: TransitionReason, now: number, openFor?: number): void {
    const from = this.current.kind;
    if (!isAllowedTransition(from, to, reason)) {
      throw new Error(
        `circuit breaker '${this.options.name}': illegal transition ${from} -> ${to} (${reason})`,
      );
    }
    this.clearTimer();
    const epoch = ++this.epoch;
    if (to === CircuitState.Closed) {
      this.current = CLOSED;
      this.reopens = 0;
      this.lastOpenFor = 0;
    } else if (to === CircuitState.Open) {
      if (from === CircuitState.HalfOpen && reason !== 'manual_open') this.reopens++;
      this.enterOpen(epoch, now, openFor ?? this.openDuration(reason));
    } else {
      const wait = this.options.halfOpenMaxWait;
      this.current = {
        kind: CircuitState.HalfOpen,
        enteredAt: now,
        deadline: now + wait,
        admitted: 0,
        succeeded: 0,
      };
      this.armTimer(epoch, wait, () => this.expireHalfOpen(this.clock.now()));
    }
    this.stateChangedAt = now;
    if (reason !== 'restored') {
      if (to === CircuitState.Open) this.openedCount++;
      this.transitionCounts[transitionIndex(from, to)]!++;
    }
    this.listener.onTransition(from, to, reason, now);
  }

  // ------------------------------------------------------------ manual control

  /** Closes the circuit and leaves any manual mode. */
  reset(now: number): void {
    this.setMode('normal', now);
    if (this.current.kind !== CircuitState.Closed) {
      this.transition(CircuitState.Closed, 'manual_reset', now);
    }
    this.reopens = 0;
    this.lastOpenFor = 0;
  }

  /** Forces the circuit open until `reset()`. */
  isolate(now: number): void {
    this.setMode('isolated', now);
    if (this.current.kind !== CircuitState.Open) {
      this.transition(CircuitState.Open, 'manual_open', now);
    } else {
      // Already open: no state change, but the recovery it was waiting for is cancelled.
      this.clearTimer();
      const epoch = ++this.epoch;
      this.enterOpen(epoch, this.current.openedAt, Infinity);
    }
  }

  /** Always closed and never trips until `reset()`; the owner keeps measuring. */
  disable(now: number): void {
    this.setMode('disabled', now);
    if (this.current.kind !== CircuitState.Closed) {
      this.transition(CircuitState.Closed, 'manual_disable', now);
    }
  }

  /** Starts from an export: a saved HALF_OPEN restarts as an OPEN that is already due. */
  restore(saved: BreakerStateExport, now: number): void {
    this.reopens = wholeNumber(saved.reopens);
    if (saved.mode === 'isolated') {
      this.isolate(now);
    } else if (saved.mode === 'disabled') {
      this.disable(now);
    } else if (saved.state === CircuitState.Open || saved.state === CircuitState.HalfOpen) {
      const remaining = saved.state === CircuitState.Open ? wholeNumber(saved.openRemainingMs) : 0;
      this.transition(CircuitState.Open, 'restored', now, remaining);
    }
  }

  /** Stops the state timer; time-based transitions then happen on calls. */
  dispose(): void {
    this.clearTimer();
    this.scheduler = undefined;
  }

  // ------------------------------------------------------------ internals

  private setMode(mode: BreakerMode, now: number): void {
    const from = this.mode;
    if (from === mode) return;
    this.mode = mode;
    this.listener.onModeChange(from, mode, now);
  }

  private openDuration(reason: TransitionReason): number {
    if (reason === 'manual_open') return Infinity;
    const ms = recoveryTimeoutFor(this.options, this.reopens, this.lastOpenFor);
    this.lastOpenFor = ms;
    return ms;
  }

  private enterOpen(epoch: number, now: number, openFor: number): void {
    this.current = { kind: CircuitState.Open, openedAt: now, retryAt: now + openFor };
    this.recoveryDue = openFor <= 0;
    if (!this.recoveryDue && Number.isFinite(openFor)) {
      this.armTimer(epoch, openFor, () => {
        this.recoveryDue = true;
      });
    }
  }

  /** One timer per state at most, never one per call; it ignores a later epoch. */
  private armTimer(epoch: number, delayMs: number, onFire: () => void): void {
    if (this.scheduler === undefined) return;
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = undefined;
      if (this.epoch === epoch) onFire();
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.scheduler?.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
