import type { Attributes, HrTime } from '@opentelemetry/api';
import type {
  CollectionResult,
  DataPoint,
  Histogram,
  MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { cumulativeHistogram, hrTimeNow } from 'breakerbox/sdk';

/** The OpenTelemetry semantic-convention HTTP server duration (stable HTTP semconv). */
export const METRIC_HTTP_SERVER_DURATION = 'http.server.request.duration';
/**
 * Its name as exported: the Prometheus exporter writes names as they are (no unit suffix),
 * and Prometheus users know this metric as `http_server_request_duration_seconds`.
 */
export const EXPORTED_HTTP_SERVER_DURATION = 'http.server.request.duration_seconds';

/**
 * The semconv advice (5 ms .. 10 s) extended down to 100 µs: most of this service's answers
 * (cache hits, fail-fast rejections) take well under a millisecond.
 */
export const HTTP_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1,
  2.5, 5, 7.5, 10,
];

/** One attribute set's cumulative histogram. */
interface Series {
  attributes: Attributes;
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
  startTime: HrTime;
}

/**
 * `http.server.request.duration`, aggregated here and served to the SDK at collection time
 * (a MetricProducer, as the breakers' duration histograms are). An SDK histogram hashes the
 * attributes of every record; here a request costs three map look-ups on bounded keys
 * (route template, method, status), a bucket search and a few additions.
 */
export class HttpServerDurations implements MetricProducer {
  // route -> method -> status -> series (all bounded: routes are templates, methods the nine
  // known ones or _OTHER, statuses the few this service answers).
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();

  record(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.series.get(route);
    if (byMethod === undefined) this.series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (s === undefined) {
      s = {
        attributes: {
          'http.request.method': method,
          'http.response.status_code': status,
          'url.scheme': 'http',
          ...(route === '' ? {} : { 'http.route': route }),
          ...(status >= 500 ? { 'error.type': String(status) } : {}),
        },
        counts: new Array<number>(HTTP_DURATION_BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: Infinity,
        max: -Infinity,
        startTime: hrTimeNow(),
      };
      byStatus.set(status, s);
    }
    let i = 0;
    while (i < HTTP_DURATION_BUCKETS.length && seconds > HTTP_DURATION_BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
    if (seconds < s.min) s.min = seconds;
    if (seconds > s.max) s.max = seconds;
  }

  async collect(): Promise<CollectionResult> {
    const endTime = hrTimeNow();
    const dataPoints: Array<DataPoint<Histogram>> = [];
    for (const byMethod of this.series.values()) {
      for (const byStatus of byMethod.values()) {
        for (const s of byStatus.values()) {
          dataPoints.push({
            attributes: s.attributes,
            startTime: s.startTime,
            endTime,
            value: {
              buckets: { boundaries: HTTP_DURATION_BUCKETS, counts: [...s.counts] },
              sum: s.sum,
              count: s.count,
              min: s.min,
              max: s.max,
            },
          });
        }
      }
    }
    return cumulativeHistogram({
      name: EXPORTED_HTTP_SERVER_DURATION,
      description: 'Duration of HTTP server requests',
      dataPoints,
    });
  }
}
