import { EventEmitter } from 'node:events';
import type { BreakerRegistry, CircuitBreaker, Clock } from 'breakerbox';
import { breakerFactory } from '../../src/composition/service-breakers.js';
import { shardGroups } from '../../src/composition/shard-groups.js';
import {
  CLUSTER_SLOT_COUNT,
  mirrorRollUp,
  ShardBreakers,
  type SlotMapSource,
} from '../../src/dependencies/cache/cluster/shard-breakers.js';
import type { BreakerGroups } from '../../src/http/breaker-groups.js';

// The breakers of a Redis Cluster L2 without a cluster: `redis_cache` and one
// `redis_cache:<shard>` per master of a slot map the test sets, built by the service's own
// ShardBreakers, mirrorRollUp and shardGroups, in the test's registry. For the HTTP routes and
// the dashboard, which only read breakers.

export const SHARD_SETTINGS = {
  failureThreshold: 3,
  recoveryTimeoutMs: 30_000,
  halfOpenMaxCalls: 1,
};

/** A slot map as ioredis holds it (per slot: master, then replicas). */
export class SlotTable extends EventEmitter implements SlotMapSource {
  slots: string[][] = [];

  /** `masters` even ranges over the 16384 slots, masters `10.0.0.<n>:6379`. */
  split(masters: number): void {
    this.slots = [];
    for (let slot = 0; slot < CLUSTER_SLOT_COUNT; slot++) {
      const i = Math.floor((slot * masters) / CLUSTER_SLOT_COUNT);
      this.slots[slot] = [`10.0.0.${i + 1}:6379`];
    }
    this.emit('refresh');
  }
}

export interface ClusterBreakers {
  parent: CircuitBreaker;
  shards: ShardBreakers;
  groups: BreakerGroups;
  table: SlotTable;
  /** The shard breakers, by shard id. */
  list(): CircuitBreaker[];
  /** Opens a shard breaker the way failures do. */
  trip(breaker: CircuitBreaker): void;
  dispose(): void;
}

export function clusterBreakers(options: {
  registry: BreakerRegistry;
  masters: number;
  clock?: Clock;
}): ClusterBreakers {
  const factory = breakerFactory({ criticalCircuits: [] }, options.registry, options.clock);
  const parent = factory('redis_cache', SHARD_SETTINGS);
  const table = new SlotTable();
  const shards = new ShardBreakers({ cluster: table, factory, settings: SHARD_SETTINGS });
  table.split(options.masters);
  const mirror = mirrorRollUp(parent, shards);
  return {
    parent,
    shards,
    groups: shardGroups(shards),
    table,
    list: () => shards.breakers(),
    trip: (breaker) => {
      for (let i = 0; i < SHARD_SETTINGS.failureThreshold; i++) {
        breaker.tryAcquire()?.failure(new Error('connect ECONNREFUSED'));
      }
    },
    dispose: () => {
      mirror.dispose();
      shards.dispose();
      parent.dispose();
    },
  };
}
