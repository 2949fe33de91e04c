import { Hono } from 'hono';
import type { BreakerRegistry } from '../../breaker/index.js';
import { HttpError } from '../errors.js';

/** Read-only view of the registry: every breaker's `metrics()` snapshot. */
export function circuitBreakerRoutes(registry: BreakerRegistry): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(registry.snapshot()));
  app.get('/:name', (c) => {
    const name = c.req.param('name');
    const breaker = registry.get(name);
    if (breaker === undefined) {
      throw new HttpError(
        404,
        'unknown_circuit_breaker',
        `no circuit breaker named ${JSON.stringify(name.slice(0, 100))}`,
      );
    }
    return c.json(breaker.metrics());
  });
  return app;
}
