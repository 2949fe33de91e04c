import {
  context,
  metrics,
  trace,
  ValueType,
  type Attributes,
  type BatchObservableResult,
  type Meter,
  type MeterProvider,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { CircuitBreaker, StateChangeEvent } from '../breaker/circuit-breaker.js';
import { systemClock, systemScheduler, type Clock, type Scheduler } from '../breaker/clock.js';
import type { Disposable } from '../breaker/events.js';
import type { BreakerRegistry } from '../breaker/registry.js';
import { CALL_OUTCOMES } from '../breaker/snapshot.js';
import { CIRCUIT_STATES } from '../breaker/state.js';
import {
  ATTR_FAILURE_COUNT,
  ATTR_NAME,
  ATTR_PREVIOUS_STATE,
  ATTR_ERROR_TYPE,
  ATTR_REASON,
  ATTR_STATE,
  EVENT_REJECTED,
  EVENT_STATE_CHANGE,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  METRIC_CALLS,
  METRIC_LOG_EVENTS,
  METRIC_STATE,
  METRIC_TRANSITIONS,
} from './attributes.js';
import { LogNoiseReducer, type LogCounts } from './log-noise-reducer.js';
import type { BreakerLogger } from './logger.js';

export interface BreakerTelemetryOptions {
  registry: BreakerRegistry;
  /** Default: the global provider from `@opentelemetry/api` (a no-op without an SDK). */
  meterProvider?: MeterProvider;
  tracerProvider?: TracerProvider;
  /** Where state-change and summary lines go (a pino logger fits). Default: nowhere. */
  logger?: BreakerLogger;
  /** At most one summary line per breaker per interval while it is not closed (default 60 s). */
  summaryIntervalMs?: number;
  clock?: Clock;
  /** Timers for the summary interval. Default: real timers with the default clock, or the
   * clock itself when it is also a scheduler (FakeClock); otherwise none (clock read per event). */
  scheduler?: Scheduler;
}

const NO_LOGGER: BreakerLogger = { info: () => undefined, warn: () => undefined };

/**
 * Observes every breaker of a registry (present and future) and reports it through the
 * OpenTelemetry API. Nothing here runs per call except a span-event check on rejection:
 * counts and states are read by observable instruments at collection time, from the
 * aggregates each breaker keeps anyway. Durations are read the same way by
 * `BreakerDurationProducer` (SDK side, since the API has no observable histogram).
 */
export class BreakerTelemetry implements Disposable {
  private readonly meter: Meter;
  private readonly tracer: Tracer;
  private readonly logs: LogNoiseReducer;
  private readonly perBreaker = new Map<CircuitBreaker, Disposable>();
  private readonly subscriptions: Disposable[] = [];
  private readonly unregisterCallback: () => void;

  constructor(private readonly options: BreakerTelemetryOptions) {
    this.meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(
      INSTRUMENTATION_SCOPE,
      INSTRUMENTATION_VERSION,
    );
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(
      INSTRUMENTATION_SCOPE,
      INSTRUMENTATION_VERSION,
    );
    this.logs = new LogNoiseReducer(
      options.logger ?? NO_LOGGER,
      options.clock ?? systemClock,
      options.summaryIntervalMs ?? 60_000,
      options.scheduler ??
        (options.clock === undefined
          ? systemScheduler
          : isScheduler(options.clock)
            ? options.clock
            : undefined),
    );
    this.unregisterCallback = this.registerInstruments();
    const { registry } = options;
    this.subscriptions.push(
      registry.onAdded((breaker) => this.observe(breaker)),
      registry.onRemoved((breaker) => this.forget(breaker)),
    );
    for (const breaker of registry.list()) this.observe(breaker);
  }

  /** Log lines emitted and suppressed for one breaker (the log-noise reduction inputs). */
  logCounts(breaker: CircuitBreaker): LogCounts {
    return this.logs.counts(breaker);
  }

  dispose(): void {
    this.unregisterCallback();
    for (const subscription of this.subscriptions) subscription.dispose();
    for (const breaker of [...this.perBreaker.keys()]) this.forget(breaker);
    this.logs.dispose();
  }

  private observe(breaker: CircuitBreaker): void {
    if (this.perBreaker.has(breaker)) return;
    this.logs.observe(breaker);
    const onChange = breaker.onStateChange((event) => this.recordStateChangeEvent(event));
    const onReject = breaker.onRejected((b) => this.recordRejectionEvent(b));
    this.perBreaker.set(breaker, {
      dispose: () => {
        onChange.dispose();
        onReject.dispose();
      },
    });
  }

  private forget(breaker: CircuitBreaker): void {
    this.perBreaker.get(breaker)?.dispose();
    this.perBreaker.delete(breaker);
    this.logs.forget(breaker);
  }

  /** Exactly one span event per transition: on the active span, or on a short span of its own. */
  private recordStateChangeEvent(event: StateChangeEvent): void {
    const attributes: Attributes = {
      [ATTR_NAME]: event.breaker.name,
      [ATTR_PREVIOUS_STATE]: event.from,
      [ATTR_STATE]: event.to,
      [ATTR_FAILURE_COUNT]: event.failureCount,
      [ATTR_REASON]: event.reason,
    };
    if (event.errorName !== undefined) attributes[ATTR_ERROR_TYPE] = event.errorName;
    const active = trace.getSpan(context.active());
    if (active?.isRecording()) {
      active.addEvent(EVENT_STATE_CHANGE, attributes);
      return;
    }
    const span = this.tracer.startSpan(EVENT_STATE_CHANGE, {
      attributes: { [ATTR_NAME]: event.breaker.name },
    });
    span.addEvent(EVENT_STATE_CHANGE, attributes);
    span.end();
  }

  private recordRejectionEvent(breaker: CircuitBreaker): void {
    const active = trace.getSpan(context.active());
    if (active === undefined || !active.isRecording()) return;
    active.addEvent(EVENT_REJECTED, { [ATTR_NAME]: breaker.name, [ATTR_STATE]: breaker.state });
  }

  private registerInstruments(): () => void {
    const state = this.meter.createObservableGauge(METRIC_STATE, {
      description: 'Circuit breaker state: 1 for the current state, 0 for the other two',
      valueType: ValueType.INT,
    });
    const transitions = this.meter.createObservableCounter(METRIC_TRANSITIONS, {
      description: 'State transitions, by from_state and to_state',
      valueType: ValueType.INT,
    });
    const calls = this.meter.createObservableCounter(METRIC_CALLS, {
      description: 'Calls through the breaker, by outcome: success, failure, rejected, ignored',
      valueType: ValueType.INT,
    });
    const logEvents = this.meter.createObservableCounter(METRIC_LOG_EVENTS, {
      description: 'Log lines emitted, and failures/rejections suppressed instead of logged',
      valueType: ValueType.INT,
    });
    const callback = (result: BatchObservableResult): void => {
      for (const breaker of this.options.registry.list()) {
        const name = breaker.name;
        const current = breaker.state;
        const critical = breaker.critical ? 'true' : 'false';
        for (const s of CIRCUIT_STATES) {
          result.observe(state, s === current ? 1 : 0, { [ATTR_NAME]: name, state: s, critical });
        }
        for (const t of breaker.transitions()) {
          result.observe(transitions, t.count, {
            [ATTR_NAME]: name,
            from_state: t.from,
            to_state: t.to,
          });
        }
        for (const outcome of CALL_OUTCOMES) {
          result.observe(calls, breaker.callCount(outcome), { [ATTR_NAME]: name, outcome });
        }
        const logs = this.logs.counts(breaker);
        result.observe(logEvents, logs.emitted, { [ATTR_NAME]: name, disposition: 'emitted' });
        result.observe(logEvents, logs.suppressed, {
          [ATTR_NAME]: name,
          disposition: 'suppressed',
        });
      }
    };
    const observables = [state, transitions, calls, logEvents];
    this.meter.addBatchObservableCallback(callback, observables);
    return () => this.meter.removeBatchObservableCallback(callback, observables);
  }
}

function isScheduler(value: object): value is Scheduler {
  const candidate = value as Partial<Scheduler>;
  return typeof candidate.setTimeout === 'function' && typeof candidate.clearTimeout === 'function';
}
