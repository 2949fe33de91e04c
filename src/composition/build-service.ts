import { Server as NetServer, type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { ValueType } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  BreakerRegistry,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Disposable,
} from 'breakerbox';
import {
  EMBEDDING_BREAKER,
  REDIS_BREAKER,
  type BreakerSettings,
  type Config,
} from '../config/config.js';
import { dashboardRoutes } from '../http/dashboard/routes.js';
import { createApp } from '../http/app.js';
import { startOpenTelemetry, type OpenTelemetryHandle } from '../otel/sdk.js';
import { CascadeCache } from '../dependencies/cache/cascade-cache.js';
import { L1Cache } from '../dependencies/cache/l1-cache.js';
import { createRedisClient } from '../dependencies/cache/redis-client.js';
import { RedisStore } from '../dependencies/cache/redis-store.js';
import { EmbeddingService } from '../dependencies/embeddings/embedding-service.js';
import { isEmbeddingFailure } from '../dependencies/embeddings/errors.js';
import { BreakerTelemetry } from 'breakerbox';
import { TransitionHistory } from '../http/dashboard/transition-history.js';

export interface RunningService {
  /** The port the HTTP server listens on (useful when PORT=0). */
  port: number;
  registry: BreakerRegistry;
  /** Stops accepting, lets in-flight requests finish, then closes every dependency. */
  stop(): Promise<void>;
}

/**
 * The composition root: the one place that reads configuration and wires the engine,
 * its telemetry, the services that use it and the HTTP layer that exposes them.
 */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const registry = new BreakerRegistry();
  const otel: OpenTelemetryHandle = startOpenTelemetry({ ...config.otel, registry });
  const cleanups: Array<() => unknown> = [];
  const breakerTelemetry = new BreakerTelemetry({
    registry,
    logger: logger.child({ component: 'circuit_breaker' }),
    summaryIntervalMs: config.logSummaryIntervalMs,
  });
  const history = new TransitionHistory(registry, 200);

  /** A service breaker from its environment settings, critical when CRITICAL_CIRCUITS says so. */
  const serviceBreaker = (
    name: string,
    settings: BreakerSettings,
    options: Pick<CircuitBreakerOptions, 'halfOpenMaxWait' | 'isFailure'>,
  ): CircuitBreaker =>
    new CircuitBreaker({
      name,
      failureThreshold: settings.failureThreshold,
      recoveryTimeout: settings.recoveryTimeoutMs,
      halfOpenMaxCalls: settings.halfOpenMaxCalls,
      critical: config.criticalCircuits.includes(name),
      registry,
      ...options,
    });

  // Redis: L1 in front of L2, every Redis command one call through `redis_cache`.
  const redisBreaker = serviceBreaker(REDIS_BREAKER, config.redis.breaker, {
    // A probe is one command with its own timeout; a probe that never reports cannot wedge.
    halfOpenMaxWait: Math.max(5_000, config.redis.commandTimeoutMs * 4),
  });
  let redisState = 'connecting';
  const redisClient = createRedisClient({
    url: config.redis.url,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    onEvent: (event) => {
      redisState = event.type;
    },
  });
  const l2 = new RedisStore({
    client: redisClient,
    breaker: redisBreaker,
    ownsClient: true,
    tracer: otel.tracer,
  });
  const l1 = new L1Cache({
    maxEntries: config.cache.l1MaxEntries,
    maxBytes: config.cache.l1MaxBytes,
  });
  const cache = new CascadeCache({ l1, l2 });

  // Embeddings: both models behind one `embedding_service` breaker.
  const embeddingBreaker = serviceBreaker(EMBEDDING_BREAKER, config.embedding.breaker, {
    halfOpenMaxWait: config.embedding.loadTimeoutMs + 10_000,
    isFailure: isEmbeddingFailure,
  });
  const embeddingDuration = otel.meter.createHistogram('breakerbox.embedding.duration', {
    description: 'Duration of embedding requests that produced vectors, model load included',
    unit: 's',
    valueType: ValueType.DOUBLE,
    advice: {
      explicitBucketBoundaries: [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
      ],
    },
  });
  const embeddings = new EmbeddingService({
    breaker: embeddingBreaker,
    textModel: config.embedding.textModel,
    codeModel: config.embedding.codeModel,
    modelsDir: config.embedding.modelsDir,
    allowDownload: config.embedding.allowDownload,
    quantized: config.embedding.quantized,
    loadTimeoutMs: config.embedding.loadTimeoutMs,
    onEmbed: (event) => {
      if (event.outcome === 'success')
        embeddingDuration.record(event.durationMs / 1000, { kind: event.kind });
    },
    onLoad: (event) => {
      const fields = {
        event: 'model_load',
        kind: event.kind,
        model: event.model,
        outcome: event.outcome,
        duration_ms: Math.round(event.durationMs),
      };
      if (event.outcome === 'success')
        logger.info(fields, `loaded ${event.kind} model ${event.model}`);
      // Failed loads are counted by the breaker and summarised by its log lines, not logged one by one.
    },
  });

  const cacheLookups = otel.meter.createObservableCounter('breakerbox.cache.lookups', {
    description: 'Cache lookups by the level that answered: l1, l2 or miss',
    valueType: ValueType.INT,
  });
  const observeLookups = (result: import('@opentelemetry/api').ObservableResult): void => {
    const { lookups } = cache.stats();
    for (const [level, count] of Object.entries(lookups)) result.observe(count, { result: level });
  };
  cacheLookups.addCallback(observeLookups);
  cleanups.push(() => cacheLookups.removeCallback(observeLookups));

  let stopping: Promise<void> | undefined;
  const app = createApp({
    registry,
    cache,
    embeddings,
    tracer: otel.tracer,
    logger,
    redisBreakerName: REDIS_BREAKER,
    bodyLimitBytes: config.bodyLimitBytes,
    isShuttingDown: () => stopping !== undefined,
    adminToken: config.adminToken,
    dependencies: () => ({
      redis: { url: config.redis.displayUrl, connection: redisState },
      embeddings: embeddings.stats(),
    }),
    extraRoutes: [
      {
        path: '/dashboard',
        app: dashboardRoutes({ registry, history, telemetry: breakerTelemetry }),
        methods: ['GET'],
      },
    ],
  });

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info(
    {
      event: 'service_started',
      port,
      metrics_port: config.otel.prometheusPort,
      redis: config.redis.displayUrl,
      critical_circuits: config.criticalCircuits,
      admin: config.adminToken !== undefined,
    },
    `breakerbox listening on http://${config.host}:${port}`,
  );

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await closeServer(server, 10_000);
      await Promise.allSettled([cache.close(), embeddings.close()]);
      for (const cleanup of cleanups) cleanup();
      history.dispose();
      breakerTelemetry.dispose();
      for (const breaker of registry.list()) (breaker as Disposable).dispose();
      await otel.shutdown().catch(() => undefined);
    })());

  return { port, registry, stop };
}

/**
 * Stops accepting; requests already sent finish; stragglers are cut after `graceMs`.
 * Two traps. Connections waiting in the kernel's accept queue are reset when the listener
 * closes, and a busy loop accepts about one per iteration, so keep accepting until a few
 * loop iterations in a row bring no new connection (capped at a second). And
 * `http.Server#close` drops "idle" connections at once, which includes fresh ones whose
 * request has arrived but is not parsed yet; so stop listening with `net.Server#close`,
 * answer with `Connection: close` so busy connections end after their request, and close
 * connections still idle only after a second.
 */
async function closeServer(server: ServerType, graceMs: number): Promise<void> {
  const http = server as import('node:http').Server;
  await drainAcceptQueue(http, 1_000);
  const closed = new Promise<void>((resolve) =>
    NetServer.prototype.close.call(server, () => resolve()),
  );
  const idle = setTimeout(() => http.closeIdleConnections(), Math.min(1_000, graceMs / 2));
  const force = setTimeout(() => http.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(idle);
  clearTimeout(force);
}

async function drainAcceptQueue(server: import('node:http').Server, capMs: number): Promise<void> {
  let accepted = 0;
  const onConnection = (): void => {
    accepted++;
  };
  server.on('connection', onConnection);
  const deadline = Date.now() + capMs;
  for (let quiet = 0; quiet < 3 && Date.now() < deadline;) {
    const before = accepted;
    await new Promise((r) => setImmediate(r)); // one loop iteration, poll phase included
    quiet = accepted === before ? quiet + 1 : 0;
  }
  server.off('connection', onConnection);
}
