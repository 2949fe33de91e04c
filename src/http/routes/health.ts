import { Hono } from 'hono';
import type { BreakerRegistry } from 'breakerbox';

export interface HealthDeps {
  registry: BreakerRegistry;
  /** Extra, credential-free facts about dependencies (e.g. Redis connection state). */
  dependencies?: () => Record<string, unknown>;
}

/** `/health` (overall), `/health/live` (the process serves), `/health/ready` (no critical circuit open). */
export function healthRoutes({ registry, dependencies }: HealthDeps): Hono {
  const app = new Hono();

  app.get('/', (c) => {
    const circuitBreakers = registry.snapshot();
    const degraded = Object.values(circuitBreakers).some((b) => b.state !== 'closed');
    return c.json({
      status: degraded ? 'degraded' : 'healthy',
      timestamp: new Date().toISOString(),
      circuit_breakers: circuitBreakers,
      critical_circuits_open: registry.criticalOpen(),
      ...(dependencies === undefined ? {} : { dependencies: dependencies() }),
    });
  });

  app.get('/live', (c) => c.json({ status: 'alive', timestamp: new Date().toISOString() }));

  app.get('/ready', (c) => {
    const criticalOpen = registry.criticalOpen();
    const ready = criticalOpen.length === 0;
    return c.json(
      { status: ready ? 'ready' : 'not_ready', critical_circuits_open: criticalOpen },
      ready ? 200 : 503,
    );
  });

  return app;
}
