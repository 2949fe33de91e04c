import { Hono } from 'hono';
import type { BreakerRegistry } from 'breakerbox';
import { groupedSnapshots, type BreakerGroups } from '../breaker-groups.js';

export interface HealthDeps {
  registry: BreakerRegistry;
  /**
   * Credential-free facts about each dependency. An entry whose `status` is `down` or
   * `degraded` makes `/health` degraded even while every breaker is closed.
   */
  dependencies?: () => Record<string, unknown>;
  /** Breakers grouped under a parent (shard breakers under `redis_cache`). */
  groups?: BreakerGroups | undefined;
}

/** A dependency entry that says it is known to be down or degraded. */
function knownBad(entry: unknown): boolean {
  const status = (entry as { status?: unknown } | null)?.status;
  return status === 'down' || status === 'degraded';
}

/** `/health` (overall), `/health/live` (the process serves), `/health/ready` (no critical circuit open). */
export function healthRoutes({ registry, dependencies, groups }: HealthDeps): Hono {
  const app = new Hono();

  app.get('/', (c) => {
    const circuitBreakers = groupedSnapshots(registry, groups);
    const deps = dependencies?.();
    const degraded =
      Object.values(circuitBreakers).some((b) => b.state !== 'closed') ||
      (deps !== undefined && Object.values(deps).some(knownBad));
    return c.json({
      status: degraded ? 'degraded' : 'healthy',
      timestamp: new Date().toISOString(),
      circuit_breakers: circuitBreakers,
      critical_circuits_open: registry.criticalOpen(),
      ...(deps === undefined ? {} : { dependencies: deps }),
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
