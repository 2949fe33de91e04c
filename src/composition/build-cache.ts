import type { Tracer } from '@opentelemetry/api';
import type { CircuitBreaker } from 'breakerbox';
import type { Redis } from 'ioredis';
import { REDIS_BREAKER, type Config } from '../config/config.js';
import { CascadeCache, type LookupResult } from '../dependencies/cache/cascade-cache.js';
import { L1Cache, type L1CacheOptions } from '../dependencies/cache/l1-cache.js';
import { createRedisClient, type RedisClientOptions } from '../dependencies/cache/redis-client.js';
import { RedisStore, type RedisStoreOptions } from '../dependencies/cache/redis-store.js';
import type { BreakerFactory } from './service-breakers.js';

/** The `redis_cache` failure-rate policy (README, "Circuit breakers"). */
export const REDIS_FAILURE_RATE = {
  threshold: 0.25,
  minimumCalls: 20,
  window: { type: 'time', durationMs: 30_000, buckets: 10 },
} as const;

export interface BuiltCache {
  cache: CascadeCache;
  store: RedisStore;
  l1: L1Cache;
  client: Redis;
  breaker: CircuitBreaker;
  /** The Redis client's last connection event: connecting, ready, reconnecting, ... */
  connection(): string;
}

export interface BuildCacheOptions {
  breakers: BreakerFactory;
  tracer?: Tracer;
  /** Client settings tests tune (reconnect pacing, socket timeout); never needed in production. */
  redisClient?: Partial<RedisClientOptions>;
  /** L1 and L2 settings that have no environment variable (tests shrink them). */
  l1?: Partial<L1CacheOptions>;
  store?: Partial<Omit<RedisStoreOptions, 'client' | 'breaker'>>;
  onLookup?: (result: LookupResult) => void;
}

/** L1 in front of Redis, every Redis command one call through the `redis_cache` breaker. */
export function buildCache(
  config: Pick<Config, 'redis' | 'cache'>,
  options: BuildCacheOptions,
): BuiltCache {
  const breaker = options.breakers(REDIS_BREAKER, config.redis.breaker, {
    // A probe is one command with its own timeout; a probe that never reports cannot wedge.
    halfOpenMaxWait: Math.max(5_000, config.redis.commandTimeoutMs * 4),
    // Besides the consecutive threshold: a quarter of the calls of the last 30 s failing (at least
    // 20 calls) opens it too, so writes refused (OOM) between successful reads still trip it.
    failureRate: REDIS_FAILURE_RATE,
  });
  let connection = 'connecting';
  const client = createRedisClient({
    url: config.redis.url,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    ...options.redisClient,
    onEvent: (event) => {
      connection = event.type;
      options.redisClient?.onEvent?.(event);
    },
  });
  const store = new RedisStore({
    client,
    breaker,
    ownsClient: true,
    ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
    ...options.store,
  });
  const l1 = new L1Cache({
    maxEntries: config.cache.l1MaxEntries,
    maxBytes: config.cache.l1MaxBytes,
  });
  const cache = new CascadeCache({ l1, l2: store, onLookup: options.onLookup });
  return { cache, store, l1, client, breaker, connection: () => connection };
}
