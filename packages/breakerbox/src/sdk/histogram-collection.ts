import { ValueType, type HrTime } from '@opentelemetry/api';
import { performance } from 'node:perf_hooks';
import { emptyResource, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import { INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION } from '../telemetry/index.js';

/** Wall-clock now as OpenTelemetry's [seconds, nanoseconds] (what `@opentelemetry/core` computes). */
export function hrTimeNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.floor((ms - seconds * 1000) * 1e6)];
}

export interface HistogramCollection {
  name: string;
  description: string;
  /** Cumulative points, one per attribute set, in seconds. */
  dataPoints: Array<DataPoint<Histogram>>;
  resource?: Resource;
}

/**
 * What a MetricProducer returns for one cumulative histogram in seconds, under breakerbox's
 * instrumentation scope: for histograms aggregated outside the SDK and read at collection.
 */
export function cumulativeHistogram(histogram: HistogramCollection): CollectionResult {
  return {
    resourceMetrics: {
      resource: histogram.resource ?? emptyResource(),
      scopeMetrics: [
        {
          scope: { name: INSTRUMENTATION_SCOPE, version: INSTRUMENTATION_VERSION },
          metrics: [
            {
              descriptor: {
                name: histogram.name,
                description: histogram.description,
                unit: 's',
                valueType: ValueType.DOUBLE,
              },
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.HISTOGRAM,
              dataPoints: histogram.dataPoints,
            },
          ],
        },
      ],
    },
    errors: [],
  };
}
