import { Writable } from 'node:stream';
import type { Hono } from 'hono';
import { pino } from 'pino';
import type { BreakerRegistry } from 'breakerbox';
import { RedisProcess, makeModels } from '@breakerbox/devkit';
import { buildService } from '../../src/composition/build-service.js';
import { loadConfig } from '../../src/config/config.js';

export const ADMIN_TOKEN = 'harness-admin-token-0123456789';

export interface AppHarness {
  app: Hono;
  registry: BreakerRegistry;
  redis: RedisProcess;
  /** The `err` of every error-level log line the service wrote. */
  errors: unknown[];
  close(): Promise<void>;
}

/**
 * The service in process, built as `npm start` builds it (minus the OpenTelemetry SDK and the
 * listening socket), over real dependencies: a private redis-server and the project's
 * generated models. Requests go through `app.request()`, no sockets.
 */
export async function startAppHarness(
  options: { bodyLimitBytes?: number } = {},
): Promise<AppHarness> {
  const redis = await RedisProcess.start();
  const models = await makeModels();
  const config = loadConfig({
    REDIS_URL: redis.url,
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '1',
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: models.code,
    ADMIN_TOKEN,
    BODY_LIMIT_BYTES: String(options.bodyLimitBytes ?? 64 * 1024),
  });
  const errors: unknown[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as { level: number; err?: unknown };
        if (entry.level >= 50) errors.push(entry.err ?? entry);
      }
      done();
    },
  });
  const service = buildService(config, {
    logger: pino({ level: 'info' }, collect),
    openTelemetry: false,
  });
  return {
    app: service.app,
    registry: service.registry,
    redis,
    errors,
    async close() {
      await service.close();
      await redis.stop();
    },
  };
}
