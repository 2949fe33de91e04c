import { ValueType, type Meter, type Tracer } from '@opentelemetry/api';
import type { CircuitBreaker } from 'breakerbox';
import type { Cluster, Redis } from 'ioredis';
import { REDIS_BREAKER, type Config } from '../config/config.js';
import { CascadeCache, type LookupResult } from '../dependencies/cache/cascade-cache.js';
import { ClusterTracking, clusterTopology } from '../dependencies/cache/cluster/cluster-cache.js';
import {
  createClusterClient,
  type ClusterClientEvent,
  type ClusterClientOptions,
} from '../dependencies/cache/cluster/cluster-client.js';
import {
  mirrorRollUp,
  ShardBreakers,
  type ShardRollUp,
} from '../dependencies/cache/cluster/shard-breakers.js';
import { InvalidationJournal } from '../dependencies/cache/journal.js';
import { L1Cache, type L1CacheOptions } from '../dependencies/cache/l1-cache.js';
import {
  closeRedisClient,
  createRedisClient,
  type RedisClientOptions,
} from '../dependencies/cache/redis-client.js';
import { RedisStore, type RedisStoreOptions } from '../dependencies/cache/redis-store.js';
import {
  InvalidationTracker,
  type TrackerEvent,
  type TrackerOptions,
} from '../dependencies/cache/tracking.js';
import type { BreakerFactory } from './service-breakers.js';

/** The `redis_cache` failure-rate policy (README, "Circuit breakers"). */
export const REDIS_FAILURE_RATE = {
  threshold: 0.25,
  minimumCalls: 20,
  window: { type: 'time', durationMs: 30_000, buckets: 10 },
} as const;

/** A small read-only summary of the cache's state (for health and dashboards). */
export interface CacheStatus {
  /** CLIENT TRACKING is on for the current connections. */
  tracking: boolean;
  /** L1 copies are provably coherent with Redis right now. */
  coherent: boolean;
  sinceCoherentMs: number | null;
  /** Invalidations journaled on disk, not yet applied to Redis. */
  journalSize: number;
  journalMaxEntries: number;
  journalDir: string;
  /** Cluster only: tracking per master `host:port`. */
  masters?: Record<
    string,
    { tracking: boolean; coherent: boolean; sinceCoherentMs: number | null }
  >;
}

/** The parts that exist only with REDIS_CLUSTER_NODES. */
export interface ClusterParts {
  client: Cluster;
  /** `redis_cache:<shard>` breakers, following the slot map. */
  shards: ShardBreakers;
  tracking: ClusterTracking;
  /** The roll-up that `redis_cache` mirrors (see shard-breakers.ts). */
  rollUp(): ShardRollUp;
  /** The Cluster client's last event per master node (`node_ready`, `node_close`, ...). */
  nodeConnection(node: string): string | undefined;
}

export interface BuiltCache {
  cache: CascadeCache;
  store: RedisStore;
  l1: L1Cache;
  client: Redis | Cluster;
  /** Standalone only: the connection that receives `__redis__:invalidate`. */
  subscriber: Redis | undefined;
  /** Standalone only (on a cluster: `cluster.tracking`). */
  tracker: InvalidationTracker | undefined;
  journal: InvalidationJournal;
  /** `redis_cache`: the single breaker, or on a cluster the mirrored roll-up of the shards. */
  breaker: CircuitBreaker;
  cluster: ClusterParts | undefined;
  /** The Redis client's last connection event: connecting, ready, reconnecting, ... */
  connection(): string;
  status(): CacheStatus;
}

export interface BuildCacheOptions {
  breakers: BreakerFactory;
  tracer?: Tracer;
  /** Cache metrics are registered on it (created here, like `breakerbox.cache.lookups`). */
  meter?: Meter;
  /** Client settings tests tune (reconnect pacing, socket timeout); never needed in production. */
  redisClient?: Partial<RedisClientOptions>;
  /** Cluster client settings tests tune, and its event hook (REDIS_CLUSTER_NODES set). */
  clusterClient?: Partial<Omit<ClusterClientOptions, 'seeds'>>;
  /** L1 and L2 settings that have no environment variable (tests shrink them). */
  l1?: Partial<L1CacheOptions>;
  store?: Partial<Omit<RedisStoreOptions, 'client' | 'breaker' | 'journal'>>;
  tracking?: Partial<Pick<TrackerOptions, 'pingIntervalMs' | 'freshWindowMs' | 'fallbackMaxMs'>>;
  onLookup?: (result: LookupResult) => void;
  onTrackingEvent?: (event: TrackerEvent) => void;
}

/**
 * L1 in front of Redis, every Redis command of a request one call through the `redis_cache`
 * breaker; L1 kept coherent by CLIENT TRACKING (a second connection receives invalidations);
 * unconfirmed invalidations journaled under CACHE_JOURNAL_DIR and replayed in the background.
 */
export function buildCache(
  config: Pick<Config, 'redis' | 'cache'>,
  options: BuildCacheOptions,
): BuiltCache {
  const breakerOptions = {
    // A probe is one command with its own timeout; a probe that never reports cannot wedge.
    halfOpenMaxWait: Math.max(5_000, config.redis.commandTimeoutMs * 4),
    // Besides the consecutive threshold: a quarter of the calls of the last 30 s failing (at least
    // 20 calls) opens it too, so writes refused (OOM) between successful reads still trip it.
    failureRate: REDIS_FAILURE_RATE,
  };
  const breaker = options.breakers(REDIS_BREAKER, config.redis.breaker, breakerOptions);
  const journal = new InvalidationJournal({
    dir: config.cache.journalDir,
    maxEntries: config.cache.journalMaxEntries,
  });
  if (config.redis.cluster !== undefined) {
    return buildClusterCache(config, options, breaker, breakerOptions, journal);
  }
  let connection = 'connecting';
  const clientOptions: RedisClientOptions = {
    url: config.redis.url,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    ...options.redisClient,
  };
  const client = createRedisClient({
    ...clientOptions,
    onEvent: (event) => {
      connection = event.type;
      options.redisClient?.onEvent?.(event);
    },
  });
  const subscriber = createRedisClient({
    ...clientOptions,
    ioredis: { ...clientOptions.ioredis, autoResubscribe: false },
  });
  const store = new RedisStore({
    client,
    breaker,
    journal,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    ownsClient: true,
    ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
    ...options.store,
  });
  const l1 = newL1(config, options.l1);
  const cache = new CascadeCache({
    l1,
    l2: store,
    l1MaxTtlMs: config.cache.l1MaxTtlMs,
    onLookup: options.onLookup,
    // The tracker and its connection close with the cache.
    onClose: async () => {
      tracker.close();
      await closeRedisClient(subscriber);
    },
  });
  const tracker = new InvalidationTracker({
    data: client,
    subscriber,
    namespace: store.namespace,
    listener: cache,
    ...options.tracking,
    ...(options.onTrackingEvent === undefined ? {} : { onEvent: options.onTrackingEvent }),
  });
  cache.setCoherence(tracker);

  const status = (): CacheStatus => {
    const t = tracker.status();
    return {
      tracking: t.tracking,
      coherent: t.coherent,
      sinceCoherentMs: t.sinceCoherentMs,
      ...journalStatus(journal, config),
    };
  };
  if (options.meter !== undefined) registerCacheMetrics(options.meter, cache, journal, tracker);
  return {
    cache,
    store,
    l1,
    client,
    subscriber,
    tracker,
    journal,
    breaker,
    cluster: undefined,
    connection: () => connection,
    status,
  };
}

/**
 * The same cache on a Redis Cluster (REDIS_CLUSTER_NODES): one ioredis Cluster client, one
 * `redis_cache:<shard>` breaker per shard guarding the keys of that shard (`redis_cache` is
 * their mirrored roll-up), tracking per master, one journal replayed per shard.
 */
function buildClusterCache(
  config: Pick<Config, 'redis' | 'cache'>,
  options: BuildCacheOptions,
  parent: CircuitBreaker,
  breakerOptions: NonNullable<Parameters<BuildCacheOptions['breakers']>[2]>,
  journal: InvalidationJournal,
): BuiltCache {
  const seeds = config.redis.cluster!;
  let connection = 'connecting';
  const nodeConnections = new Map<string, string>();
  const late: { store?: RedisStore } = {};
  const client = createClusterClient({
    commandTimeoutMs: config.redis.commandTimeoutMs,
    ...(seeds.username === undefined ? {} : { username: seeds.username }),
    ...(seeds.password === undefined ? {} : { password: seeds.password }),
    tls: seeds.tls,
    ...options.clusterClient,
    seeds: seeds.seeds,
    onEvent: (event: ClusterClientEvent) => {
      if ('node' in event) {
        if (event.type !== 'node_error') nodeConnections.set(event.node, event.type);
        if (event.type === 'node_removed') nodeConnections.delete(event.node);
        // A master (back) up: measure its clock and replay what is journaled for it.
        if (event.type === 'node_ready') late.store?.nodeReady(event.node);
      } else if (event.type !== 'refresh') {
        connection = event.type;
      }
      options.clusterClient?.onEvent?.(event);
    },
  });
  const shards = new ShardBreakers({
    cluster: client,
    factory: options.breakers,
    settings: config.redis.breaker,
    breakerOptions,
  });
  const mirror = mirrorRollUp(parent, shards);
  const store = new RedisStore({
    client,
    breaker: parent,
    topology: clusterTopology(client, shards),
    journal,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    ownsClient: true,
    ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
    ...options.store,
  });
  const l1 = newL1(config, options.l1);
  late.store = store;
  const cache = new CascadeCache({
    l1,
    l2: store,
    l1MaxTtlMs: config.cache.l1MaxTtlMs,
    onLookup: options.onLookup,
    onClose: async () => {
      mirror.dispose();
      await tracking.close();
      shards.dispose();
    },
  });
  const onTrackingEvent = options.onTrackingEvent;
  const tracking = new ClusterTracking({
    cluster: client,
    namespace: store.namespace,
    listener: cache,
    subscriber: {
      commandTimeoutMs: config.redis.commandTimeoutMs,
      ...(options.clusterClient?.reconnectBaseMs === undefined
        ? {}
        : { reconnectBaseMs: options.clusterClient.reconnectBaseMs }),
      ...(options.clusterClient?.reconnectMaxMs === undefined
        ? {}
        : { reconnectMaxMs: options.clusterClient.reconnectMaxMs }),
    },
    username: seeds.username,
    password: seeds.password,
    tls: seeds.tls,
    ...(options.tracking === undefined ? {} : { tracking: options.tracking }),
    ...(onTrackingEvent === undefined ? {} : { onEvent: onTrackingEvent }),
  });
  cache.setCoherence(tracking);

  const status = (): CacheStatus => {
    const t = tracking.status();
    return {
      tracking: t.tracking,
      coherent: t.coherent,
      sinceCoherentMs: t.sinceCoherentMs,
      ...journalStatus(journal, config),
      masters: t.masters,
    };
  };
  if (options.meter !== undefined) registerCacheMetrics(options.meter, cache, journal, tracking);
  return {
    cache,
    store,
    l1,
    client,
    subscriber: undefined,
    tracker: undefined,
    journal,
    breaker: parent,
    cluster: {
      client,
      shards,
      tracking,
      rollUp: () => mirror.current,
      nodeConnection: (node) => nodeConnections.get(node),
    },
    connection: () => connection,
    status,
  };
}

/** Coherence and journal metrics (observable: read when /metrics is scraped). */
function registerCacheMetrics(
  meter: Meter,
  cache: CascadeCache,
  journal: InvalidationJournal,
  tracker: Pick<InvalidationTracker, 'coherent'>,
): void {
  const invalidations = meter.createObservableCounter('breakerbox.cache.l1.invalidations', {
    description: 'Keys invalidated in L1 by Redis invalidation messages (CLIENT TRACKING)',
    valueType: ValueType.INT,
  });
  const flushes = meter.createObservableCounter('breakerbox.cache.l1.flushes', {
    description:
      'L1 flushes by cause: reconnect, redis_restart, flushall, slot_map (on a cluster a flush drops only the keys of the slots concerned)',
    valueType: ValueType.INT,
  });
  const stale = meter.createObservableCounter('breakerbox.cache.l1.stale_served', {
    description: 'L1 copies served as a marked fallback (x-cache-stale) while not coherent',
    valueType: ValueType.INT,
  });
  const tracking = meter.createObservableGauge('breakerbox.cache.tracking', {
    description: '1 while L1 is provably coherent with Redis (tracking on and recently proven)',
    valueType: ValueType.INT,
  });
  const journalSize = meter.createObservableGauge('breakerbox.cache.journal.size', {
    description: 'Invalidations journaled on local disk, not yet applied to Redis',
    valueType: ValueType.INT,
  });
  const replays = meter.createObservableCounter('breakerbox.cache.journal.replays', {
    description: 'Journaled invalidations applied to Redis by the background replay',
    valueType: ValueType.INT,
  });
  const rejected = meter.createObservableCounter('breakerbox.cache.journal.rejected', {
    description: 'Invalidations answered 503 because the journal was full',
    valueType: ValueType.INT,
  });
  meter.addBatchObservableCallback(
    (result) => {
      const s = cache.stats();
      result.observe(invalidations, s.invalidations);
      for (const [cause, n] of Object.entries(s.flushes)) result.observe(flushes, n, { cause });
      result.observe(stale, s.staleServed);
      result.observe(tracking, tracker.coherent() ? 1 : 0);
      result.observe(journalSize, journal.size);
      result.observe(replays, journal.counters.replayed);
      result.observe(rejected, journal.counters.rejected);
    },
    [invalidations, flushes, stale, tracking, journalSize, replays, rejected],
  );
}

/** L1 as configured (a test may override its options). */
function newL1(
  config: Pick<Config, 'cache'>,
  overrides: Partial<L1CacheOptions> | undefined,
): L1Cache {
  return new L1Cache({
    maxEntries: config.cache.l1MaxEntries,
    maxBytes: config.cache.l1MaxBytes,
    ...overrides,
  });
}

/** The journal's part of the cache status, the same on one Redis and on a Cluster. */
function journalStatus(
  journal: InvalidationJournal,
  config: Pick<Config, 'cache'>,
): Pick<CacheStatus, 'journalSize' | 'journalMaxEntries' | 'journalDir'> {
  return {
    journalSize: journal.size,
    journalMaxEntries: journal.maxEntries,
    journalDir: config.cache.journalDir,
  };
}
