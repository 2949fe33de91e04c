import type { CircuitBreaker } from 'breakerbox';
import { CascadeCache, type LookupResult } from './cascade-cache.js';
import { L1Cache, type L1CacheOptions } from './l1-cache.js';
import { createRedisClient, type RedisClientOptions } from './redis-client.js';
import { RedisStore } from './redis-store.js';

export * from './cascade-cache.js';
export * from './l1-cache.js';
export * from './redis-client.js';
export * from './redis-store.js';

export interface CreateCacheOptions {
  /** The `redis_cache` breaker (the caller owns its registry and config). */
  breaker: CircuitBreaker;
  /** Redis client settings: url (REDIS_URL), commandTimeoutMs (REDIS_COMMAND_TIMEOUT_MS), ... */
  redis?: RedisClientOptions;
  l1?: L1CacheOptions;
  namespace?: string;
  maxPendingInvalidations?: number;
  defaultTtlMs?: number;
  maxTtlMs?: number;
  l1MaxTtlMs?: number;
  onLookup?: (result: LookupResult) => void;
}

/**
 * Builds L1 + Redis client + L2 store + cascade. Never throws for an unreachable Redis (only
 * for an invalid REDIS_URL or option); `close()` on the result releases everything.
 */
export function createCache(options: CreateCacheOptions): CascadeCache {
  const l1 = new L1Cache(options.l1);
  const client = createRedisClient(options.redis);
  const l2 = new RedisStore({
    client,
    breaker: options.breaker,
    namespace: options.namespace,
    maxPendingInvalidations: options.maxPendingInvalidations,
  });
  return new CascadeCache({
    l1,
    l2,
    defaultTtlMs: options.defaultTtlMs,
    maxTtlMs: options.maxTtlMs,
    l1MaxTtlMs: options.l1MaxTtlMs,
    onLookup: options.onLookup,
  });
}
