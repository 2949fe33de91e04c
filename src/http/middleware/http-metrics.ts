import { ValueType, type Attributes, type Histogram, type Meter } from '@opentelemetry/api';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

/** The OpenTelemetry semantic-convention HTTP server duration (stable HTTP semconv). */
export const METRIC_HTTP_SERVER_DURATION = 'http.server.request.duration';

/**
 * The semconv advice (5 ms .. 10 s) extended down to 100 µs: most of this service's answers
 * (cache hits, fail-fast rejections) take well under a millisecond.
 */
export const HTTP_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1,
  2.5, 5, 7.5, 10,
];

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/**
 * The route TEMPLATE that answered (`/v1/cache/:key`), never the raw path: the last matched
 * route that is not a middleware. Empty when nothing matched (a 404 from notFound).
 */
export function routeTemplate(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return '';
}

/**
 * `http.server.request.duration` per request, recorded in one middleware. Attribute objects
 * are built once per (route, method, status) and reused, so a request costs two clock reads,
 * three map look-ups and one histogram record.
 */
export function httpMetrics(meter: Meter): MiddlewareHandler {
  const histogram: Histogram = meter.createHistogram(METRIC_HTTP_SERVER_DURATION, {
    description: 'Duration of HTTP server requests',
    unit: 's',
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: HTTP_DURATION_BUCKETS },
  });
  // route -> method -> status -> attributes (all bounded: routes are templates, methods are
  // the nine known ones or _OTHER, statuses are the few this service answers).
  const attributes = new Map<string, Map<string, Map<number, Attributes>>>();
  const attributesFor = (route: string, method: string, status: number): Attributes => {
    let byMethod = attributes.get(route);
    if (byMethod === undefined) attributes.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let attrs = byStatus.get(status);
    if (attrs === undefined) {
      attrs = {
        'http.request.method': method,
        'http.response.status_code': status,
        'url.scheme': 'http',
        ...(route === '' ? {} : { 'http.route': route }),
        ...(status >= 500 ? { 'error.type': String(status) } : {}),
      };
      byStatus.set(status, attrs);
    }
    return attrs;
  };

  return async (c, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - start) / 1000;
      const raw = c.req.method;
      const method = KNOWN_METHODS.has(raw) ? raw : '_OTHER';
      histogram.record(seconds, attributesFor(routeTemplate(c), method, c.res.status));
    }
  };
}
