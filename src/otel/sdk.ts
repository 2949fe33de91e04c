import {
  metrics,
  ROOT_CONTEXT,
  trace,
  type ContextManager,
  type Meter,
  type Tracer,
} from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { BreakerRegistry } from 'breakerbox';
import { INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION } from 'breakerbox';
import { BreakerDurationProducer } from 'breakerbox/sdk';

/** A context manager that keeps no context: what the API does before any is registered. */
const ROOT_ONLY_CONTEXT: ContextManager = {
  active: () => ROOT_CONTEXT,
  with: (_context, fn, thisArg, ...args) => fn.call(thisArg, ...args),
  bind: (_context, target) => target,
  enable() {
    return this;
  },
  disable() {
    return this;
  },
};

export interface OpenTelemetryOptions {
  serviceName: string;
  tracesExporter: 'otlp' | 'console' | 'none';
  prometheusHost: string;
  prometheusPort: number;
  registry: BreakerRegistry;
  /** More metrics served at collection time (the HTTP server durations). */
  producers?: MetricProducer[];
}

export interface OpenTelemetryHandle {
  tracer: Tracer;
  meter: Meter;
  /** Flushes spans and stops the metrics server. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK: Prometheus metrics on host:port (with the breakers'
 * duration histograms served by a metric producer, and the Node.js runtime metrics of
 * @opentelemetry/instrumentation-runtime-node) and traces per OTEL_TRACES_EXPORTER.
 * OTLP endpoint, headers, protocol and sampling come from the standard OTEL_* variables.
 */
export function startOpenTelemetry(options: OpenTelemetryOptions): OpenTelemetryHandle {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_VERSION]: INSTRUMENTATION_VERSION,
  });
  const prometheus = new PrometheusExporter({
    host: options.prometheusHost,
    port: options.prometheusPort,
    metricProducers: [new BreakerDurationProducer(options.registry), ...(options.producers ?? [])],
    // Keep series to the instrument's own attributes (circuit_breaker_name, state, outcome, ...):
    // no otel_scope_* labels, since the scope is always breakerbox.
    withoutScopeInfo: true,
  });
  let spanProcessors: SpanProcessor[] | undefined;
  if (options.tracesExporter === 'none') spanProcessors = [];
  else if (options.tracesExporter === 'console') {
    spanProcessors = [new SimpleSpanProcessor(new ConsoleSpanExporter())];
  } // 'otlp': the SDK builds the exporter from OTEL_EXPORTER_OTLP_* itself.

  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    metricReader: prometheus,
    spanProcessors,
    // Tracing off: no context manager and no propagator, so no async-hooks bookkeeping on every
    // promise (measured: 20% of a cache GET's throughput). Nothing reads the context then.
    ...(options.tracesExporter === 'none'
      ? { contextManager: ROOT_ONLY_CONTEXT, textMapPropagator: null }
      : {}),
    logRecordProcessors: [],
    // Node.js runtime metrics (nodejs.eventloop.*, v8js.*): event-loop delay is sampled by
    // perf_hooks every 10 ms, the rest is read when Prometheus scrapes.
    instrumentations: [new RuntimeNodeInstrumentation({ monitoringPrecision: 10 })],
  });
  sdk.start();
  return {
    tracer: trace.getTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION),
    meter: metrics.getMeter(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION),
    shutdown: () => sdk.shutdown(),
  };
}
