import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { HttpServerDurations } from '../../otel/http-server-durations.js';

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

/** `http.server.request.duration` per request: two clock reads and one record. */
export function httpMetrics(durations: HttpServerDurations): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const raw = c.req.method;
      durations.record(
        routeTemplate(c),
        KNOWN_METHODS.has(raw) ? raw : '_OTHER',
        c.res.status,
        (performance.now() - start) / 1000,
      );
    }
  };
}
