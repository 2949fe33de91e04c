import { trace } from '@opentelemetry/api';
import type { Hono } from 'hono';
import { BreakerRegistry, CircuitBreaker } from 'breakerbox';
import { createApp } from '../../src/http/app.js';
import { dashboardRoutes } from '../../src/http/dashboard/routes.js';
import { TransitionHistory } from '../../src/http/dashboard/transition-history.js';
import { BreakerTelemetry } from 'breakerbox';
import { CascadeCache } from '../../src/dependencies/cache/cascade-cache.js';
import { L1Cache } from '../../src/dependencies/cache/l1-cache.js';
import { createRedisClient } from '../../src/dependencies/cache/redis-client.js';
import { RedisStore } from '../../src/dependencies/cache/redis-store.js';
import { EmbeddingService } from '../../src/dependencies/embeddings/embedding-service.js';
import { isEmbeddingFailure } from '../../src/dependencies/embeddings/errors.js';
import { RedisProcess, makeModels } from '@breakerbox/devkit';

export const ADMIN_TOKEN = 'harness-admin-token-0123456789';

export interface AppHarness {
  app: Hono;
  registry: BreakerRegistry;
  redis: RedisProcess;
  errors: unknown[];
  close(): Promise<void>;
}

/**
 * The HTTP app in process, over real dependencies: a private redis-server and the
 * project's generated models. Requests go through `app.request()`, no sockets.
 */
export async function startAppHarness(
  options: { bodyLimitBytes?: number } = {},
): Promise<AppHarness> {
  const redis = await RedisProcess.start();
  const models = await makeModels();
  const registry = new BreakerRegistry();
  const redisBreaker = new CircuitBreaker({
    name: 'redis_cache',
    registry,
    recoveryTimeout: 1_000,
  });
  const client = createRedisClient({ url: redis.url, commandTimeoutMs: 500 });
  const cache = new CascadeCache({
    l1: new L1Cache({ maxEntries: 1_000 }),
    l2: new RedisStore({ client, breaker: redisBreaker, ownsClient: true }),
  });
  const embeddingBreaker = new CircuitBreaker({
    name: 'embedding_service',
    registry,
    critical: true,
    failureThreshold: 3,
    isFailure: isEmbeddingFailure,
  });
  const embeddings = new EmbeddingService({
    breaker: embeddingBreaker,
    textModel: models.text,
    codeModel: models.code,
  });
  const telemetry = new BreakerTelemetry({ registry });
  const history = new TransitionHistory(registry, 50);
  const errors: unknown[] = [];
  const app = createApp({
    registry,
    cache,
    embeddings,
    tracer: trace.getTracer('test'),
    logger: { error: (fields) => errors.push(fields.err), info: () => undefined },
    redisBreakerName: 'redis_cache',
    bodyLimitBytes: options.bodyLimitBytes ?? 64 * 1024,
    adminToken: ADMIN_TOKEN,
    extraRoutes: [
      {
        path: '/dashboard',
        app: dashboardRoutes({ registry, history, telemetry }),
        methods: ['GET'],
      },
    ],
  });
  return {
    app,
    registry,
    redis,
    errors,
    async close() {
      history.dispose();
      telemetry.dispose();
      await cache.close();
      await embeddings.close();
      for (const b of registry.list()) b.dispose();
      await redis.stop();
    },
  };
}
