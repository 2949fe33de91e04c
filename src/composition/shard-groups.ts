import type { BreakerGroups } from '../http/breaker-groups.js';
import { shardIdOf, type ShardBreakers } from '../dependencies/cache/cluster/shard-breakers.js';

/**
 * The shard breakers of a Redis Cluster L2 as children of `redis_cache`, for
 * `/v1/circuit-breakers`, `/health` and the built-in dashboard (see breaker-groups.ts). Read
 * on every request from the live shard map, so a failover or a reshard shows at once.
 */
export function shardGroups(shards: ShardBreakers, parentName = 'redis_cache'): BreakerGroups {
  const byId = (a: string, b: string): number =>
    (shardIdOf(a, parentName) ?? 0) - (shardIdOf(b, parentName) ?? 0);
  return {
    childOf(name) {
      const id = shardIdOf(name, parentName);
      const shard = id === undefined ? undefined : shards.shard(id);
      if (shard === undefined || shard.name !== name) return undefined; // a retired breaker
      return { parent: parentName, shard: shard.id, master: shard.master, slots: shard.slotCount };
    },
    summaryOf(name) {
      if (name !== parentName) return undefined;
      const r = shards.rollUp();
      return {
        total: r.closed.length + r.open.length + r.halfOpen.length,
        closed: r.closed.length,
        open: r.open.length,
        half_open: r.halfOpen.length,
        not_closed: [...r.open, ...r.halfOpen].sort(byId),
        state: r.state,
        reason: r.reason,
      };
    },
  };
}
