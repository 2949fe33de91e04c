/**
 * The things the benchmarks call, built the same way for the micro-benchmarks and the heap
 * runs: breakerbox bare and with the OTel metrics SDK installed, opossum with its defaults and
 * cockatiel with a ConsecutiveBreaker.
 */
import { metrics } from '@opentelemetry/api';
import { MetricReader, MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BrokenCircuitError,
  CircuitState as CockatielState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import Opossum from 'opossum';
import { pino } from 'pino';
import { BreakerDurationProducer } from 'breakerbox/sdk';
import {
  BreakerRegistry,
  BreakerTelemetry,
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
} from 'breakerbox';

/** The protected function: an async function that resolves at once. */
export const fn = async (): Promise<number> => 42;

const boom = new Error('dependency down');
/** A failing function, used only to trip breakers open. */
export const failing = async (): Promise<never> => {
  throw boom;
};

export const noop = (): void => undefined;

/** Long enough that no circuit leaves OPEN by itself while a benchmark runs. */
const DAY_MS = 24 * 60 * 60 * 1000;
const THRESHOLD = 5;

let breakerSeq = 0;

/** A breakerbox breaker in its own registry; nothing observes it. */
export function bareBreaker(): CircuitBreaker {
  return new CircuitBreaker({
    name: `bare-${++breakerSeq}`,
    registry: new BreakerRegistry(),
    failureThreshold: THRESHOLD,
    recoveryTimeout: DAY_MS,
  });
}

/**
 * The bare breaker with the slow-call policy on (over the default window of 100 calls): the
 * closed path then records every call's duration into the window and checks both rates.
 */
export function slowCallBreaker(): CircuitBreaker {
  return new CircuitBreaker({
    name: `slow-${++breakerSeq}`,
    registry: new BreakerRegistry(),
    failureThreshold: THRESHOLD,
    recoveryTimeout: DAY_MS,
    slowCall: { durationThreshold: 1_000, rateThreshold: 0.5, minimumCalls: 10 },
  });
}

/**
 * What the service runs: a MeterProvider with a reader (the Prometheus exporter, server not
 * started) that also serves the duration histogram through BreakerDurationProducer, and
 * BreakerTelemetry observing the registry with a pino logger. No context manager or tracer
 * provider is installed (the global no-op tracer), as in a service that only exports metrics.
 */
export interface TelemetryRig {
  registry: BreakerRegistry;
  reader: MetricReader;
  telemetry: BreakerTelemetry;
  /** Collects once through the reader, as a Prometheus scrape would. Returns data points. */
  scrape(): Promise<number>;
  shutdown(): Promise<void>;
}

const devNullLogger = () =>
  pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));

function rig(
  registry: BreakerRegistry,
  reader: MetricReader,
  telemetry: BreakerTelemetry,
  stop: () => Promise<void>,
): TelemetryRig {
  return {
    registry,
    reader,
    telemetry,
    async scrape() {
      const { resourceMetrics } = await reader.collect();
      let points = 0;
      for (const scope of resourceMetrics.scopeMetrics)
        for (const metric of scope.metrics) points += metric.dataPoints.length;
      return points;
    },
    async shutdown() {
      telemetry.dispose();
      await stop();
    },
  };
}

export function telemetryRig(): TelemetryRig {
  const registry = new BreakerRegistry();
  const reader = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [new BreakerDurationProducer(registry)],
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = new BreakerTelemetry({ registry, meterProvider, logger: devNullLogger() });
  return rig(registry, reader, telemetry, () => meterProvider.shutdown());
}

/**
 * The service's own setup (src/otel/sdk.ts, mirrored here so the bench does not start an
 * HTTP server): NodeSDK with the Prometheus reader and the duration producer, a tracer
 * provider with no exporter (OTEL_TRACES_EXPORTER=none), and the AsyncLocalStorage context
 * manager NodeSDK installs; BreakerTelemetry on the global providers. The context manager
 * hooks every promise in the process, so every case measured next to it pays for it too.
 */
export function nodeSdkRig(): TelemetryRig {
  const registry = new BreakerRegistry();
  const reader = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [new BreakerDurationProducer(registry)],
    withoutScopeInfo: true,
  });
  const sdk = new NodeSDK({
    autoDetectResources: false,
    metricReader: reader,
    spanProcessors: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  if (metrics.getMeterProvider().constructor.name === 'NoopMeterProvider')
    throw new Error('NodeSDK did not install a global MeterProvider');
  const telemetry = new BreakerTelemetry({ registry, logger: devNullLogger() });
  return rig(registry, reader, telemetry, () => sdk.shutdown());
}

export function telemetryBreaker(rig: TelemetryRig): CircuitBreaker {
  return new CircuitBreaker({
    name: `sdk-${++breakerSeq}`,
    registry: rig.registry,
    failureThreshold: THRESHOLD,
    recoveryTimeout: DAY_MS,
  });
}

/** Trips a breakerbox breaker with real failures (recovery a day away: it stays open). */
export async function tripBreakerbox(breaker: CircuitBreaker): Promise<void> {
  for (let i = 0; i < THRESHOLD; i++) await breaker.execute(failing).catch(noop);
  if (breaker.state !== CircuitState.Open) throw new Error(`${breaker.name} did not open`);
  const error = await breaker.execute(fn).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof CircuitOpenError)) throw new Error(`${breaker.name} did not reject`);
}

/** opossum with its defaults (10 s timeout, rolling stats with latency percentiles). */
export function opossum(): Opossum<[], number> {
  return new Opossum(fn);
}

/** Opens an opossum breaker; call before each round (its 30 s reset timer half-opens it). */
export function openOpossum(breaker: Opossum<[], number>): void {
  if (!breaker.opened) breaker.open();
  if (!breaker.opened) throw new Error('opossum did not open');
}

export function cockatiel(): CircuitBreakerPolicy {
  return circuitBreaker(handleAll, {
    halfOpenAfter: DAY_MS,
    breaker: new ConsecutiveBreaker(THRESHOLD),
  });
}

/** Trips a cockatiel breaker with real failures; its next call is a BrokenCircuitError. */
export async function tripCockatiel(policy: CircuitBreakerPolicy): Promise<void> {
  for (let i = 0; i < THRESHOLD; i++) await policy.execute(failing).catch(noop);
  if (policy.state !== CockatielState.Open) throw new Error('cockatiel did not open');
  const error = await policy.execute(fn).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof BrokenCircuitError)) throw new Error('cockatiel did not reject');
}

export function isCockatielOpen(policy: CircuitBreakerPolicy): boolean {
  return policy.state === CockatielState.Open;
}
