import { Redis } from 'ioredis';
import {
  BreakerRegistry,
  CircuitBreaker,
  FakeClock,
  type CircuitState,
  type Disposable,
} from 'breakerbox';
import {
  CascadeCache,
  L1Cache,
  RedisStore,
  createRedisClient,
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
  maxPendingInvalidations?: number;
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
    const breaker = new CircuitBreaker({
      name: 'redis_cache',
      failureThreshold: options.failureThreshold ?? 5,
      recoveryTimeout: recoveryTimeoutMs,
      halfOpenMaxCalls: options.halfOpenMaxCalls ?? 1,
      critical: false,
      registry,
      ...(clock === undefined ? {} : { clock }),
    });
    const client = createRedisClient({
      url: options.redisUrl ?? `redis://127.0.0.1:${proxy.port}/0`,
      commandTimeoutMs: options.commandTimeoutMs ?? 150,
      socketTimeoutMs: options.socketTimeoutMs ?? 500,
      reconnectBaseMs: 5,
      reconnectMaxMs: 40,
    });
    if (options.redisUrl === undefined && !(await waitForRedisReady(client, 3_000))) {
      throw new Error('harness: client not ready');
    }
    const store = new RedisStore({
      client,
      breaker,
      maxPendingInvalidations: options.maxPendingInvalidations,
    });
    const l1 = new L1Cache(options.l1);
    const lookups: LookupResult[] = [];
    const cache = new CascadeCache({ l1, l2: store, onLookup: (r) => lookups.push(r) });
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

  /** The raw value Redis holds for a cache key in generation 0 (or `generation`). */
  rawValue(key: string, generation = 0): Promise<string | null> {
    return this.direct((r) => r.get(this.store.redisKey(key, generation)));
  }

  /** How many EVALSHA commands redis-server executed since start or the last RESETSTAT. */
  async scriptCalls(): Promise<number> {
    const info = await this.direct((r) => r.info('commandstats'));
    const m = /^cmdstat_evalsha:calls=(\d+)/m.exec(info);
    return m === null ? 0 : Number(m[1]);
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
