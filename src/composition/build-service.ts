import { metrics, trace, ValueType, type ObservableResult } from '@opentelemetry/api';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import {
  BreakerRegistry,
  BreakerTelemetry,
  INSTRUMENTATION_SCOPE,
  INSTRUMENTATION_VERSION,
  type Clock,
} from 'breakerbox';
import { EMBEDDING_BREAKER, REDIS_BREAKER, type Config } from '../config/config.js';
import { parseRedisUrl, type RedisClientOptions } from '../dependencies/cache/redis-client.js';
import { EmbeddingService } from '../dependencies/embeddings/embedding-service.js';
import { isEmbeddingFailure } from '../dependencies/embeddings/errors.js';
import { createApp } from '../http/app.js';
import { dashboardRoutes } from '../http/dashboard/routes.js';
import { TransitionHistory } from '../http/dashboard/transition-history.js';
import { HttpServerDurations } from '../otel/http-server-durations.js';
import { startOpenTelemetry, type OpenTelemetryHandle } from '../otel/sdk.js';
import { buildCache, type BuildCacheOptions, type BuiltCache } from './build-cache.js';
import { registerBreakerGauges } from './breaker-gauges.js';
import { embeddingsEntry, RedisHealth } from './dependency-health.js';
import { listen } from './http-server.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { shardGroups } from './shard-groups.js';
import { breakerFactory } from './service-breakers.js';

export interface BuildServiceOptions {
  logger: Logger;
  /**
   * Start the OpenTelemetry SDK (Prometheus exporter, tracing) as `npm start` does. Default
   * true; in-process tests pass false and use whatever the global OpenTelemetry API provides.
   */
  openTelemetry?: boolean;
  /** The breakers' clock (tests pass a FakeClock). */
  clock?: Clock;
  /** Redis client settings tests tune (reconnect pacing, socket timeout). */
  redisClient?: Partial<RedisClientOptions>;
  /** Cache settings without an environment variable (tests tune tracking and replay pacing). */
  cache?: Pick<BuildCacheOptions, 'tracking' | 'store' | 'l1'>;
}

/** The whole service, assembled but not listening. */
export interface Service {
  app: Hono;
  registry: BreakerRegistry;
  cache: BuiltCache;
  embeddings: EmbeddingService;
  telemetry: BreakerTelemetry;
  /** Serves the app on config.host:config.port. */
  listen(): Promise<RunningService>;
  /** Closes every dependency and the telemetry (after the HTTP server, if listening). */
  close(): Promise<void>;
}

export interface RunningService {
  /** The port the HTTP server listens on (useful when PORT=0). */
  port: number;
  registry: BreakerRegistry;
  /** Stops accepting, lets in-flight requests finish, then closes every dependency. */
  stop(): Promise<void>;
}

/**
 * The composition root: the one place that wires the engine, its telemetry, the
 * dependencies it protects and the HTTP layer that exposes them. `main`, the tests, the demo
 * and the benches all build the service here.
 */
export function buildService(config: Config, options: BuildServiceOptions): Service {
  const { logger } = options;
  const registry = new BreakerRegistry();
  const httpDurations = new HttpServerDurations();
  // With OTEL_TRACES_EXPORTER=none no span is ever exported: skip span work on the request
  // path entirely (server spans, Redis client spans), not just its export.
  const tracing = options.openTelemetry === false || config.otel.tracesExporter !== 'none';
  const otel: OpenTelemetryHandle =
    options.openTelemetry === false
      ? {
          tracer: trace.getTracer(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION),
          meter: metrics.getMeter(INSTRUMENTATION_SCOPE, INSTRUMENTATION_VERSION),
          shutdown: () => Promise.resolve(),
        }
      : startOpenTelemetry({ ...config.otel, registry, producers: [httpDurations] });
  const cleanups: Array<() => unknown> = [];
  const breakerTelemetry = new BreakerTelemetry({
    registry,
    logger: logger.child({ component: 'circuit_breaker' }),
    summaryIntervalMs: config.logSummaryIntervalMs,
  });
  const breakers = breakerFactory(config, registry, options.clock);

  // Dependency errors reach the log rate-limited (first of a kind at once, then a count per
  // interval), with the Redis credentials removed; /health reads the same facts.
  let redisSecrets: Array<string | undefined> = [];
  try {
    const { password, username } = parseRedisUrl(config.redis.url);
    redisSecrets = [password, username];
  } catch {
    // A URL that does not parse fails in the client with a redacted message anyway.
  }
  const dependencyErrors = new RateLimitedLog({
    logger: logger.child({ component: 'dependencies' }),
    intervalMs: config.logSummaryIntervalMs,
    meter: otel.meter,
    secrets: redisSecrets,
  });
  // The dashboard's server-side history: transitions, admin actions, last failures.
  const history = new TransitionHistory(registry, {
    capacity: 200,
    redact: (message) => dependencyErrors.redact(message),
  });
  const redisHealth = new RedisHealth({
    displayUrl: config.redis.displayUrl,
    errors: dependencyErrors,
  });
  const cache = buildCache(config, {
    breakers,
    ...(tracing ? { tracer: otel.tracer } : {}),
    meter: otel.meter,
    redisClient: {
      ...options.redisClient,
      onEvent: (event) => {
        redisHealth.onClientEvent(event);
        options.redisClient?.onEvent?.(event);
      },
    },
    clusterClient: {
      onEvent: (event) => {
        // The cluster client as a whole; node events are per shard (health's `shards`).
        if (!('node' in event) && event.type !== 'refresh') redisHealth.onClientEvent(event);
      },
    },
    ...(options.cache ?? {}),
    onTrackingEvent: (event) => {
      if (event.type === 'tracking_on' && event.cause === 'redis_restart') {
        logger.warn(
          { event: 'redis_restarted', run_id: event.runId },
          'Redis restarted (new run_id): L1 flushed',
        );
      } else if (event.type === 'tracking_off') {
        logger.info({ event: 'cache_tracking_off', reason: event.reason }, 'cache tracking off');
      }
    },
  });
  redisHealth.watch(cache.breaker);
  if (cache.cluster !== undefined) redisHealth.watchCluster(cache.cluster);

  // Embeddings: both models behind one `embedding_service` breaker.
  const embeddingBreaker = breakers(EMBEDDING_BREAKER, config.embedding.breaker, {
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
      else
        dependencyErrors.report({
          dependency: 'embeddings',
          kind: `model_load:${event.error?.reason ?? 'error'}`,
          message: event.error?.message ?? `${event.kind} model ${event.model} failed to load`,
          fields: { model_kind: event.kind, model: event.model, duration_ms: fields.duration_ms },
        });
    },
  });

  const cacheLookups = otel.meter.createObservableCounter('breakerbox.cache.lookups', {
    description: 'Cache lookups by the level that answered: l1, l2 or miss',
    valueType: ValueType.INT,
  });
  const observeLookups = (result: ObservableResult): void => {
    const { lookups } = cache.cache.stats();
    for (const [level, count] of Object.entries(lookups)) result.observe(count, { result: level });
  };
  cacheLookups.addCallback(observeLookups);
  cleanups.push(registerBreakerGauges(otel.meter, registry, history));
  cleanups.push(() => cacheLookups.removeCallback(observeLookups));

  // On a cluster, shard breakers read as children of redis_cache wherever breakers are listed.
  const breakerGroups =
    cache.cluster === undefined ? undefined : shardGroups(cache.cluster.shards, REDIS_BREAKER);
  const dependencies = (): Record<string, unknown> => ({
    redis: redisHealth.entry(),
    embeddings: embeddingsEntry(embeddings.stats()),
  });
  let shuttingDown = false;
  const app = createApp({
    registry,
    cache: cache.cache,
    embeddings,
    tracer: otel.tracer,
    tracing,
    httpDurations,
    logger,
    redisBreakerName: REDIS_BREAKER,
    bodyLimitBytes: config.bodyLimitBytes,
    isShuttingDown: () => shuttingDown,
    adminToken: config.adminToken,
    onAdminAction: (breaker, action) => {
      history.recordAdmin(breaker, action);
      // On a cluster, an action on `redis_cache` (the cache as a whole) applies to every shard.
      const shards = cache.cluster?.shards;
      if (shards === undefined || breaker !== REDIS_BREAKER) return;
      if (action === 'reset') shards.resetAll();
      else if (action === 'open') shards.isolateAll();
      else if (action === 'disable') shards.disableAll();
    },
    dependencies,
    breakerGroups,
    extraRoutes: [
      {
        path: '/dashboard',
        app: dashboardRoutes({
          registry,
          history,
          telemetry: breakerTelemetry,
          dependencies,
          groups: breakerGroups,
        }),
        methods: ['GET'],
      },
    ],
  });

  // Load both models in the background once serving, retrying a load that fails transiently
  // (a timeout, an unknown loader error): the first request then finds them ready.
  const warmUp = new AbortController();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      shuttingDown = true;
      warmUp.abort();
      const [redis] = await Promise.allSettled([cache.cache.close(), embeddings.close()]);
      for (const cleanup of cleanups) cleanup();
      redisHealth.dispose();
      dependencyErrors.dispose();
      history.dispose();
      breakerTelemetry.dispose();
      for (const breaker of registry.list()) breaker.dispose();
      const telemetry = await otel.shutdown().then(
        () => 'flushed',
        () => 'failed',
      );
      logger.info(
        {
          event: 'dependencies_closed',
          redis: redis.status === 'fulfilled' ? 'closed' : 'failed',
          telemetry,
        },
        'closed Redis and the models, flushed telemetry',
      );
    })());

  const listenAndLog = async (): Promise<RunningService> => {
    const server = await listen(app, config.host, config.port);
    if (config.embedding.warmUp) {
      for (const kind of ['text', 'code'] as const) void embeddings.warmUp(kind, warmUp.signal);
    }
    logger.info(
      {
        event: 'service_started',
        port: server.port,
        metrics_port: config.otel.prometheusPort,
        redis: config.redis.displayUrl,
        critical_circuits: config.criticalCircuits,
        admin: config.adminToken !== undefined,
      },
      `breakerbox listening on http://${config.host}:${server.port}`,
    );
    let stopping: Promise<void> | undefined;
    return {
      port: server.port,
      registry,
      stop: () =>
        (stopping ??= (async () => {
          shuttingDown = true;
          // 8 s for in-flight requests leaves time to close Redis and flush telemetry
          // inside main's 10 s hard stop.
          await server.close(8_000);
          await close();
        })()),
    };
  };

  return {
    app,
    registry,
    cache,
    embeddings,
    telemetry: breakerTelemetry,
    listen: listenAndLog,
    close,
  };
}

/** Builds the service and serves it: what `npm start` runs. */
export function startService(config: Config, logger: Logger): Promise<RunningService> {
  return buildService(config, { logger }).listen();
}
