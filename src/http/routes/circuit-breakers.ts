import { Hono } from 'hono';
import type { BreakerRegistry } from 'breakerbox';
import { breakerOr404 } from '../errors.js';

/** Read-only view of the registry: every breaker's `metrics()` snapshot. */
export function circuitBreakerRoutes(registry: BreakerRegistry): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(registry.snapshot()));
  app.get('/:name', (c) => {
    const name = c.req.param('name');
    const breaker = breakerOr404(registry, name);
    return c.json(breaker.metrics());
  });
  return app;
}
