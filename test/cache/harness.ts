import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  BreakerRegistry,
  CircuitBreaker,
  FakeClock,
  type CircuitState,
  type Disposable,
} from 'breakerbox';
import { buildCache } from '../../src/composition/build-cache.js';
import { breakerFactory } from '../../src/composition/service-breakers.js';
import { loadConfig } from '../../src/config/config.js';
import {
  CascadeCache,
  L1Cache,
  RedisStore,
  waitForRedisReady,
  type L1CacheOptions,
  type LookupResult,
} from '../../src/dependencies/cache/index.js';
import { FaultProxy, RedisProcess } from '@breakerbox/devkit';

/**
 * The whole cache stack against a private redis-server, through a FaultProxy:
 *
 *   CascadeCache -> RedisStore -> breaker 'redis_cache' -> ioredis -> FaultProxy -> redis-server
 *
 * The breaker uses a FakeClock by default (recovery is `clock.advance`, never a sleep); pass
 * `realClock: true` for real timers. Redis I/O and command timeouts are real.
 */

export interface HarnessOptions {
  failureThreshold?: number;
  halfOpenMaxCalls?: number;
  recoveryTimeoutMs?: number;
  commandTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** CACHE_JOURNAL_MAX_ENTRIES. */
  journalMaxEntries?: number;
  realClock?: boolean;
  /** Put credentials in the client's URL (the test Redis has no password: expect auth errors). */
  redisUrl?: string;
  l1?: L1CacheOptions;
}

export interface Transition {
  from: CircuitState;
  to: CircuitState;
}

export class CacheHarness {
  readonly transitions: Transition[] = [];
  private readonly subscription: Disposable;

  private constructor(
    readonly redis: RedisProcess,
    readonly proxy: FaultProxy,
    readonly clock: FakeClock | undefined,
    readonly registry: BreakerRegistry,
    readonly breaker: CircuitBreaker,
    readonly client: Redis,
    readonly store: RedisStore,
    readonly l1: L1Cache,
    readonly cache: CascadeCache,
    readonly recoveryTimeoutMs: number,
    /** Every lookup result, in order (what the OTel cache metric will count). */
    readonly lookups: LookupResult[],
  ) {
    this.subscription = breaker.onStateChange((e) =>
      this.transitions.push({ from: e.from, to: e.to }),
    );
  }

  static async start(options: HarnessOptions = {}): Promise<CacheHarness> {
    const redis = await RedisProcess.start();
    const proxy = await FaultProxy.start({ targetPort: redis.port });
    const clock = options.realClock ? undefined : new FakeClock();
    const registry = new BreakerRegistry();
    const recoveryTimeoutMs = options.recoveryTimeoutMs ?? 1_000;
    // The service's own cache composition, with test-sized settings.
    const config = loadConfig({
      REDIS_URL: options.redisUrl ?? `redis://127.0.0.1:${proxy.port}/0`,
      REDIS_COMMAND_TIMEOUT_MS: String(options.commandTimeoutMs ?? 150),
      REDIS_CIRCUIT_FAILURE_THRESHOLD: String(options.failureThreshold ?? 5),
      REDIS_CIRCUIT_RECOVERY_TIMEOUT: String(recoveryTimeoutMs / 1000),
      REDIS_CIRCUIT_HALF_OPEN_CALLS: String(options.halfOpenMaxCalls ?? 1),
      CRITICAL_CIRCUITS: 'embedding_service',
      CACHE_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'bb-journal-')),
      ...(options.journalMaxEntries === undefined
        ? {}
        : { CACHE_JOURNAL_MAX_ENTRIES: String(options.journalMaxEntries) }),
    });
    const lookups: LookupResult[] = [];
    const built = buildCache(config, {
      breakers: breakerFactory(config, registry, clock),
      redisClient: {
        socketTimeoutMs: options.socketTimeoutMs ?? 500,
        reconnectBaseMs: 5,
        reconnectMaxMs: 40,
      },
      ...(options.l1 === undefined ? {} : { l1: options.l1 }),
      onLookup: (r) => lookups.push(r),
    });
    const { breaker, store, l1, cache } = built;
    const client = built.client as Redis; // standalone: REDIS_URL
    if (options.redisUrl === undefined && !(await waitForRedisReady(client, 3_000))) {
      throw new Error('harness: client not ready');
    }
    const harness = new CacheHarness(
      redis,
      proxy,
      clock,
      registry,
      breaker,
      client,
      store,
      l1,
      cache,
      recoveryTimeoutMs,
      lookups,
    );
    return harness;
  }

  /** Moves the breaker's clock past the recovery timeout (FakeClock only). */
  passRecoveryTimeout(): void {
    if (this.clock === undefined) throw new Error('harness: real clock, sleep instead');
    this.clock.advance(this.recoveryTimeoutMs + 1);
  }

  /** Waits until the client has (re)connected through the proxy. */
  async waitReady(timeoutMs = 3_000): Promise<void> {
    if (!(await waitForRedisReady(this.client, timeoutMs))) {
      throw new Error(`harness: client not ready (status ${this.client.status})`);
    }
  }

  /** Runs `fn` with a fresh connection straight to redis-server (not through the proxy). */
  async direct<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis({
      host: '127.0.0.1',
      port: this.redis.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on('error', () => {});
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  }

  /** The raw value Redis holds for a cache key (stamp included). */
  rawValue(key: string): Promise<string | null> {
    return this.direct((r) => r.get(this.store.redisKey(key)));
  }

  /** The JSON text Redis holds for a cache key (stamp stripped), or null. */
  async storedJson(key: string): Promise<string | null> {
    const raw = await this.rawValue(key);
    return raw === null ? null : raw.replace(/^1\|\d+\|\d+\|/, '');
  }

  /**
   * How many cache data commands (GET, DEL, EVALSHA, EVAL) redis-server executed since start
   * or the last RESETSTAT. Tracking's own commands (PING, CLIENT, INFO, TIME) are not counted.
   */
  async scriptCalls(): Promise<number> {
    const info = await this.direct((r) => r.info('commandstats'));
    let total = 0;
    for (const m of info.matchAll(/^cmdstat_(?:get|del|evalsha|eval):calls=(\d+)/gm)) {
      total += Number(m[1]);
    }
    return total;
  }

  async resetRedisStats(): Promise<void> {
    await this.direct((r) => r.config('RESETSTAT'));
  }

  /** Opens the breaker with real failures: refused connections, `threshold` failed GETs. */
  async openWithRefusedConnections(threshold: number): Promise<void> {
    await this.proxy.setMode('refuse');
    for (let i = 0; i < threshold; i++) await this.cache.get(`open-the-breaker-${i}`);
    if (this.breaker.state !== 'open') throw new Error(`harness: breaker is ${this.breaker.state}`);
  }

  async close(): Promise<void> {
    this.subscription.dispose();
    await this.cache.close();
    this.breaker.dispose();
    await this.proxy.close();
    await this.redis.stop();
  }
}
