import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';

/**
 * A server span per request, made active for the handler, so a breaker's span events
 * (`circuit_breaker.state_change`, `circuit_breaker.rejected`) land on the request that
 * caused them. Incoming W3C trace context is honoured.
 */
export function tracing(tracer: Tracer): MiddlewareHandler {
  return async (c, next) => {
    const parent = propagation.extract(context.active(), c.req.raw.headers, {
      get: (headers, key) => headers.get(key) ?? undefined,
      keys: (headers) => [...headers.keys()],
    });
    const method = c.req.method;
    const span = tracer.startSpan(
      `${method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'url.path': c.req.path, 'url.scheme': 'http' },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = c.req.matchedRoutes.filter((r) => r.method !== 'ALL').at(-1)?.path;
      if (route !== undefined) {
        span.updateName(`${method} ${route}`);
        span.setAttribute('http.route', route);
      }
      const status = c.res.status;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
