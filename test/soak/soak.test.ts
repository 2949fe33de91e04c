import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisProcess,
  stopAllRedis,
  makeModels,
  ServiceProcess,
  stopAllServices,
  sleep,
  waitFor,
} from '@breakerbox/devkit';

/**
 * A short soak (issue #8): steady GET/PUT/DELETE traffic on the cache routes of the real
 * service (`node dist/main.js`) while its Redis is killed with SIGKILL and restarted. About 20 s
 * of traffic. No timing assertions here: the latency and throughput targets live in
 * bench/http-load.ts, bench/cache-outage.ts and bench/soak.ts.
 */

const WORKERS = 8;
const KEYS = 200;
const HEALTHY_MS = 6_000;
const OUTAGE_MS = 6_000;
const AFTER_MS = 4_000;

type Phase = 'before' | 'outage' | 'after';

interface PhaseCounts {
  requests: number;
  byStatus: Record<string, number>;
  circuitOpenHeaders: number;
}

let redis: RedisProcess;
let service: ServiceProcess;

beforeAll(async () => {
  redis = await RedisProcess.start();
  const models = await makeModels();
  service = await ServiceProcess.start({
    REDIS_URL: redis.url,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '0.5',
    CIRCUIT_LOG_SUMMARY_INTERVAL: '1',
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: models.code,
    MODELS_DIR: models.dir,
  });
  await waitFor(
    async () => {
      const res = await service.json('/v1/cache/soak:warmup', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: 1 }),
      });
      return res.body?.stored?.l2 === true;
    },
    { timeoutMs: 10_000, message: 'Redis reachable' },
  );
}, 60_000);

afterAll(async () => {
  await stopAllServices();
  await stopAllRedis();
});

describe('short soak through a Redis SIGKILL and restart', () => {
  it('answers every cache request without a 5xx, logs no unhandled rejection, and closes the breaker again', async () => {
    const counts: Record<Phase, PhaseCounts> = {
      before: { requests: 0, byStatus: {}, circuitOpenHeaders: 0 },
      outage: { requests: 0, byStatus: {}, circuitOpenHeaders: 0 },
      after: { requests: 0, byStatus: {}, circuitOpenHeaders: 0 },
    };
    const failures: string[] = [];
    let phase: Phase = 'before';
    let running = true;

    const worker = async (id: number): Promise<void> => {
      // Bounded in count as well as by the schedule below.
      for (let i = 0; running && i < 100_000; i++) {
        const key = `soak:${(id * 7919 + i * 31) % KEYS}`;
        const op = i % 10;
        const init: RequestInit =
          op < 7
            ? { method: 'GET' }
            : op < 9
              ? {
                  method: 'PUT',
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify({ value: { id, i }, ttl_seconds: 60 }),
                }
              : { method: 'DELETE' };
        const at = phase;
        try {
          const res = await service.fetch(`/v1/cache/${key}`, {
            ...init,
            signal: AbortSignal.timeout(10_000),
          });
          const body = await res.text();
          const c = counts[at];
          c.requests++;
          c.byStatus[res.status] = (c.byStatus[res.status] ?? 0) + 1;
          if (res.headers.get('x-circuit-open') === 'redis_cache') c.circuitOpenHeaders++;
          if (res.status >= 500 && failures.length < 10) {
            failures.push(`${init.method} ${key} -> ${res.status} ${body.slice(0, 200)}`);
          }
        } catch (error) {
          if (failures.length < 10) failures.push(`${init.method} ${key} -> ${String(error)}`);
        }
      }
    };

    const workers = Array.from({ length: WORKERS }, (_, id) => worker(id));
    try {
      await sleep(HEALTHY_MS);
      phase = 'outage';
      await redis.kill('SIGKILL');
      await sleep(OUTAGE_MS);
      await redis.restart();
      phase = 'after';
      await waitFor(
        async () =>
          (await service.json('/health')).body.circuit_breakers.redis_cache.state === 'closed',
        { timeoutMs: 20_000, intervalMs: 100, message: 'redis_cache closed after the restart' },
      );
      await sleep(AFTER_MS);
    } finally {
      running = false;
      await Promise.all(workers);
    }

    // Traffic ran in every phase, and the outage really went through the open breaker.
    expect(counts.before.requests).toBeGreaterThan(0);
    expect(counts.outage.requests).toBeGreaterThan(0);
    expect(counts.after.requests).toBeGreaterThan(0);
    expect(counts.outage.circuitOpenHeaders).toBeGreaterThan(0);
    const metrics = await (await fetch(service.metricsUrl)).text();
    expect(metrics).toMatch(
      /circuit_breaker_transitions_total\{circuit_breaker_name="redis_cache",from_state="closed",to_state="open"\} [1-9]/,
    );

    // No 5xx, no transport error.
    expect(failures).toEqual([]);
    for (const c of Object.values(counts)) {
      for (const status of Object.keys(c.byStatus)) expect([200, 404]).toContain(Number(status));
    }

    // No unhandled rejection (main.ts logs them as event "unhandled_rejection"), no crash.
    expect(service.logLines().filter((l) => l.event === 'unhandled_rejection')).toEqual([]);
    expect(service.output).not.toMatch(/UnhandledPromiseRejection|unhandledRejection/);
    expect(service.child.exitCode).toBeNull();

    // The breaker is closed at the end and the service healthy.
    const health = await service.json('/health');
    expect(health.body.circuit_breakers.redis_cache.state).toBe('closed');
    expect(health.body.status).toBe('healthy');

    // Graceful stop still works after the soak.
    expect(await service.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
