import { Hono } from 'hono';
import type { BreakerRegistry } from 'breakerbox';
import { groupedSnapshotOf, groupedSnapshots, type BreakerGroups } from '../breaker-groups.js';
import { breakerOr404 } from '../errors.js';

/**
 * Read-only view of the registry: every breaker's `metrics()` snapshot, by name. With `groups`
 * (a Redis Cluster L2), shard breakers come right after their parent and name it (`parent`,
 * `shard`, `master`, `slots`), and the parent carries a `shards` summary; nothing else changes.
 */
export function circuitBreakerRoutes(registry: BreakerRegistry, groups?: BreakerGroups): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json(groupedSnapshots(registry, groups)));
  app.get('/:name', (c) => {
    const name = c.req.param('name');
    const breaker = breakerOr404(registry, name);
    return c.json(groupedSnapshotOf(name, breaker.metrics(), groups));
  });
  return app;
}
