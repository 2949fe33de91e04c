import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
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

export interface OpenTelemetryOptions {
  serviceName: string;
  tracesExporter: 'otlp' | 'console' | 'none';
  prometheusHost: string;
  prometheusPort: number;
  registry: BreakerRegistry;
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
    metricProducers: [new BreakerDurationProducer(options.registry)],
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
    // The Prometheus exporter writes names without unit suffixes; the HTTP semconv metric is
    // known to Prometheus users as http_server_request_duration_seconds, so it gets its unit.
    views: [
      {
        instrumentName: 'http.server.request.duration',
        name: 'http.server.request.duration_seconds',
      },
    ],
    spanProcessors,
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
