import type { MiddlewareHandler } from 'hono';
import type { HttpServerDurations } from '../../otel/http-server-durations.js';
import { declaredLength, payloadTooLargeResponse, tooLarge } from '../body.js';
import { methodLabel, routeTemplate } from './http-metrics.js';

export interface RequestFrameOptions {
  /** A declared body (Content-Length) over this is refused with 413 before any route runs. */
  bodyLimitBytes: number;
  /** Where `http.server.request.duration` is recorded (unset: not recorded). */
  durations?: HttpServerDurations | undefined;
  /** While true, responses carry `Connection: close` so keep-alive connections drain. */
  isShuttingDown?: (() => boolean) | undefined;
}

/**
 * What every request goes through, as one middleware. Each Hono middleware layer costs a
 * compose step, an async frame and their promises on every request (about 1 KB of garbage
 * per layer under load, docs/BENCHMARKS.md round 4), so these share one layer:
 *
 * - `http.server.request.duration`: two clock reads and one record;
 * - a declared body over the limit is refused before any route runs (routes that read a body
 *   also count what arrives; see body.ts): only headers are read, no web Request, no
 *   AbortSignal per request (the 413 closes the connection anyway);
 * - while shutting down, responses say `Connection: close`.
 */
export function requestFrame(options: RequestFrameOptions): MiddlewareHandler {
  const { bodyLimitBytes, durations, isShuttingDown } = options;
  return async (c, next) => {
    const start = performance.now();
    const method = c.req.method;
    let refused: number | undefined;
    try {
      if (method !== 'GET' && method !== 'HEAD' && (declaredLength(c) ?? 0) > bodyLimitBytes) {
        const response = payloadTooLargeResponse(c, tooLarge(bodyLimitBytes).message);
        refused = response.status;
        return response;
      }
      await next();
      if (isShuttingDown?.() === true) c.header('Connection', 'close');
    } finally {
      durations?.record(
        routeTemplate(c),
        methodLabel(method),
        refused ?? c.res.status,
        (performance.now() - start) / 1000,
      );
    }
  };
}
