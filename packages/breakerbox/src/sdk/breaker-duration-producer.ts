import { ValueType, type HrTime } from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';
import { emptyResource, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { BreakerRegistry, CircuitBreaker } from '../breaker/index.js';
import { CALL_OUTCOMES } from '../breaker/index.js';
import {
  ATTR_NAME,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  METRIC_CALL_DURATION,
} from '../telemetry/index.js';

/** Wall-clock now as OpenTelemetry's [seconds, nanoseconds] (what `@opentelemetry/core` computes). */
function hrTime(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.floor((ms - seconds * 1000) * 1e6)];
}

/**
 * Serves `circuit_breaker.call.duration` from the histograms each breaker keeps, at
 * collection time. Recording through an SDK histogram on every call costs about a
 * microsecond, several times a whole breaker call; this costs nothing per call.
 * Plug it into any SDK MetricReader (`metricProducers: [producer]`), e.g. the Prometheus exporter.
 */
export class BreakerDurationProducer implements MetricProducer {
  private readonly startTimes = new WeakMap<CircuitBreaker, HrTime>();

  constructor(
    private readonly registry: BreakerRegistry,
    private readonly resource: Resource = emptyResource(),
  ) {}

  async collect(): Promise<CollectionResult> {
    const endTime = hrTime();
    const dataPoints: Array<DataPoint<Histogram>> = [];
    for (const breaker of this.registry.list()) {
      let startTime = this.startTimes.get(breaker);
      if (startTime === undefined) {
        startTime = endTime;
        this.startTimes.set(breaker, startTime);
      }
      for (const outcome of CALL_OUTCOMES) {
        const h = breaker.durations(outcome);
        dataPoints.push({
          attributes: { [ATTR_NAME]: breaker.name, outcome },
          startTime,
          endTime,
          value: {
            buckets: { boundaries: [...h.boundaries], counts: h.counts },
            sum: h.sum,
            count: h.count,
            ...(h.count > 0 ? { min: h.min, max: h.max } : {}),
          },
        });
      }
    }
    return {
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: [
          {
            scope: { name: INSTRUMENTATION_SCOPE, version: INSTRUMENTATION_VERSION },
            metrics: [
              {
                descriptor: {
                  name: METRIC_CALL_DURATION,
                  description:
                    'Duration of calls through the breaker, rejections included (fail-fast latency)',
                  unit: 's',
                  valueType: ValueType.DOUBLE,
                },
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: DataPointType.HISTOGRAM,
                dataPoints,
              },
            ],
          },
        ],
      },
      errors: [],
    };
  }
}
