import type {
  CircuitBreaker,
  ModeChangeEvent,
  StateChangeEvent,
} from '../breaker/circuit-breaker.js';
import { errorMessage } from '../breaker/last-failure.js';
import type { Clock, Scheduler } from '../breaker/clock.js';
import { CircuitState } from '../breaker/state.js';
import type { Disposable } from '../breaker/events.js';
import { ATTR_NAME } from './attributes.js';
import type { BreakerLogger } from './logger.js';

export interface LogCounts {
  emitted: number;
  suppressed: number;
}

interface BreakerLogState extends LogCounts {
  /** Failures and rejections swallowed since the last line for this breaker. */
  pendingFailures: number;
  pendingRejections: number;
  lastLineAt: number;
  /** With a scheduler: set by a timer once a summary may go out, so suppress() reads no clock. */
  summaryDue: boolean;
  timer: unknown;
  subscriptions: Disposable[];
}

/**
 * One log line per state change instead of one per failure. Individual failures and
 * rejections are counted as suppressed; while a circuit is not closed, a summary line goes
 * out at most once per interval, checked lazily on the next suppressed event (no timer).
 */
export class LogNoiseReducer implements Disposable {
  private readonly breakers = new Map<CircuitBreaker, BreakerLogState>();

  constructor(
    private readonly logger: BreakerLogger,
    private readonly clock: Clock,
    private readonly summaryIntervalMs: number,
    /** Optional: without one, each suppressed event outside CLOSED reads the clock instead. */
    private readonly scheduler?: Scheduler,
  ) {}

  observe(breaker: CircuitBreaker): void {
    if (this.breakers.has(breaker)) return;
    const state: BreakerLogState = {
      emitted: 0,
      suppressed: 0,
      pendingFailures: 0,
      pendingRejections: 0,
      lastLineAt: this.clock.now(),
      summaryDue: false,
      timer: undefined,
      subscriptions: [],
    };
    state.subscriptions.push(
      breaker.onStateChange((event) => this.logStateChange(state, event)),
      breaker.onModeChange((event) => this.logModeChange(state, event)),
      breaker.onFailure(() => this.suppress(breaker, state, 'failure')),
      breaker.onRejected(() => this.suppress(breaker, state, 'rejection')),
    );
    this.breakers.set(breaker, state);
  }

  forget(breaker: CircuitBreaker): void {
    const state = this.breakers.get(breaker);
    if (state === undefined) return;
    for (const subscription of state.subscriptions) subscription.dispose();
    this.disarm(state);
    this.breakers.delete(breaker);
  }

  counts(breaker: CircuitBreaker): LogCounts {
    const state = this.breakers.get(breaker);
    return state === undefined
      ? { emitted: 0, suppressed: 0 }
      : { emitted: state.emitted, suppressed: state.suppressed };
  }

  dispose(): void {
    for (const breaker of [...this.breakers.keys()]) this.forget(breaker);
  }

  private logStateChange(state: BreakerLogState, event: StateChangeEvent): void {
    const { breaker } = event;
    const fields: Record<string, unknown> = {
      event: 'circuit_breaker.state_change',
      [ATTR_NAME]: breaker.name,
      from: event.from,
      to: event.to,
      reason: event.reason,
      failure_count: event.failureCount,
      critical: breaker.critical,
      suppressed_since_last_line: state.pendingFailures + state.pendingRejections,
    };
    let cause = '';
    if (event.errorName !== undefined) {
      // The name and a credential-free message: why it opened, without leaking a password.
      fields.error = event.errorName;
      fields.error_message = errorMessage(event.lastFailure);
      cause = `, last failure ${event.errorName}`;
    }
    const message = `circuit breaker ${breaker.name}: ${event.from} -> ${event.to} (${event.reason}${cause})`;
    if (event.to === CircuitState.Open) this.logger.warn(fields, message);
    else this.logger.info(fields, message);
    this.emitted(state);
    if (event.to === CircuitState.Closed) this.disarm(state);
  }

  private logModeChange(state: BreakerLogState, event: ModeChangeEvent): void {
    const { breaker } = event;
    this.logger.warn(
      {
        event: 'circuit_breaker.mode_change',
        [ATTR_NAME]: breaker.name,
        from: event.from,
        to: event.to,
        state: breaker.state,
        critical: breaker.critical,
      },
      `circuit breaker ${breaker.name}: mode ${event.from} -> ${event.to}`,
    );
    this.emitted(state);
  }

  private suppress(
    breaker: CircuitBreaker,
    state: BreakerLogState,
    kind: 'failure' | 'rejection',
  ): void {
    state.suppressed++;
    if (kind === 'failure') state.pendingFailures++;
    else state.pendingRejections++;
    if (this.scheduler !== undefined) {
      // One boolean on the hot path; the timer armed at the last line says when one is due.
      if (!state.summaryDue || breaker.state === CircuitState.Closed) return;
    } else if (breaker.state === CircuitState.Closed) {
      return;
    }
    const now = this.clock.now();
    if (now - state.lastLineAt < this.summaryIntervalMs) return;
    this.logger.warn(
      {
        event: 'circuit_breaker.summary',
        [ATTR_NAME]: breaker.name,
        state: breaker.state,
        critical: breaker.critical,
        suppressed_failures: state.pendingFailures,
        suppressed_rejections: state.pendingRejections,
        interval_seconds: (now - state.lastLineAt) / 1000,
      },
      `circuit breaker ${breaker.name} still ${breaker.state}: ${state.pendingFailures} failures and ${state.pendingRejections} rejections not logged individually`,
    );
    this.emitted(state, now);
  }

  private emitted(state: BreakerLogState, now = this.clock.now()): void {
    state.emitted++;
    state.pendingFailures = 0;
    state.pendingRejections = 0;
    state.lastLineAt = now;
    if (this.scheduler === undefined) return;
    this.disarm(state);
    state.timer = this.scheduler.setTimeout(() => {
      state.timer = undefined;
      state.summaryDue = true;
    }, this.summaryIntervalMs);
  }

  private disarm(state: BreakerLogState): void {
    state.summaryDue = false;
    if (state.timer !== undefined) this.scheduler?.clearTimeout(state.timer);
    state.timer = undefined;
  }
}
