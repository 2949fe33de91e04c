import type { Context } from 'hono';
import type { BreakerRegistry, CircuitBreaker } from 'breakerbox';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Every error answer has this shape: a stable code and a message naming the problem. */
export interface ErrorBody {
  error: string;
  message: string;
  [extra: string]: unknown;
}

/** A 4xx/5xx the route decided on; `onError` renders it as JSON, never with a stack. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): Response {
  return c.json<ErrorBody>({ error: code, message, ...extra }, status);
}

/** The named breaker, or a 404 naming what was asked for. */
export function breakerOr404(registry: BreakerRegistry, name: string): CircuitBreaker {
  const breaker = registry.get(name);
  if (breaker === undefined) {
    throw new HttpError(
      404,
      'unknown_circuit_breaker',
      `no circuit breaker named ${JSON.stringify(name.slice(0, 100))}`,
    );
  }
  return breaker;
}
