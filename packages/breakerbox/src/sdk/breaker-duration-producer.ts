import type { HrTime } from '@opentelemetry/api';
import { emptyResource, type Resource } from '@opentelemetry/resources';
import type {
  CollectionResult,
  DataPoint,
  Histogram,
  MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { BreakerRegistry, CircuitBreaker } from '../breaker/index.js';
import { CALL_OUTCOMES } from '../breaker/index.js';
import { ATTR_NAME, METRIC_CALL_DURATION } from '../telemetry/index.js';
import { cumulativeHistogram, hrTimeNow } from './histogram-collection.js';

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
    const endTime = hrTimeNow();
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
    return cumulativeHistogram({
      name: METRIC_CALL_DURATION,
      description: 'Duration of calls through the breaker, rejections included (fail-fast latency)',
      dataPoints,
      resource: this.resource,
    });
  }
}
