// What an operator sees when a dependency fails: /health tells the truth (with a reason)
// before any breaker opens, the log names the error without a storm and without credentials,
// and /metrics carries HTTP and runtime series. The real service, real redis-servers, the
// FaultProxy.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FaultProxy,
  freePort,
  makeModels,
  RedisProcess,
  ServiceProcess,
  sleep,
  stopAllRedis,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';

const PASSWORD = 'Op3rator-S3cret-pw';

afterAll(async () => {
  await stopAllServices();
  await stopAllRedis();
});

const put = (value: unknown): RequestInit => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ value }),
});

interface Health {
  status: string;
  dependencies: Record<string, { status: string; reason: string } & Record<string, unknown>>;
}

async function health(service: ServiceProcess): Promise<Health> {
  return (await service.json('/health')).body as Health;
}

describe('/health tells the truth about dependencies', () => {
  it('is degraded with a reason within 5 s when Redis is unreachable from start-up, with no cache traffic', async () => {
    const nobody = await freePort();
    const service = await ServiceProcess.start({
      REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${nobody}/0`,
    });
    const started = Date.now();
    const seen = await waitFor(
      async () => {
        const h = await health(service);
        return h.status === 'degraded' ? h : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 100, message: '/health degraded within 5 s' },
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(seen!.dependencies.redis).toMatchObject({ status: 'down' });
    expect(seen!.dependencies.redis!.reason).toMatch(/not connected to Redis.*ECONNREFUSED/);
    // No breaker opened: nobody sent a cache call.
    expect(
      (
        (await service.json('/health')).body as {
          circuit_breakers: Record<string, { state: string }>;
        }
      ).circuit_breakers.redis_cache!.state,
    ).toBe('closed');
    // /health/ready keeps its contract: redis_cache is not critical.
    expect((await service.fetch('/health/ready')).status).toBe(200);
    // The log names the connection error once, without the password.
    const lines = service.logLines();
    const first = lines.find((l) => l.event === 'dependency_error' && l.dependency === 'redis');
    expect(first).toMatchObject({ kind: 'connection:ECONNREFUSED' });
    expect(service.output).not.toContain(PASSWORD);
    expect(JSON.stringify(await health(service))).not.toContain(PASSWORD);
    await service.stop();
  }, 30_000);

  it('is degraded within 10 s when Redis refuses writes (maxmemory 1, noeviction) under mixed traffic', async () => {
    const redis = await RedisProcess.start();
    const service = await ServiceProcess.start({ REDIS_URL: redis.url });
    await waitFor(async () => (await service.json('/v1/cache/a', put(1))).body.stored?.l2, {
      timeoutMs: 10_000,
      message: 'Redis reachable',
    });
    expect((await health(service)).status).toBe('healthy');

    const admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await admin.connect();
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const started = Date.now();
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        await service.fetch(`/v1/cache/k${i % 7}`).then((r) => r.arrayBuffer());
        await service.fetch(`/v1/cache/k${i % 7}`, put(i)).then((r) => r.arrayBuffer());
        await service.fetch(`/v1/cache/r${i % 5}`).then((r) => r.arrayBuffer());
        await sleep(20);
      }
    })();
    try {
      const seen = await waitFor(
        async () => {
          const h = await health(service);
          return h.status === 'degraded' && h.dependencies.redis!.status !== 'up' ? h : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, message: '/health degraded within 10 s' },
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(seen!.dependencies.redis!.reason).toMatch(/OOM/);
      // Writes failing trip the breaker too (failure-rate policy), even between good reads.
      await waitFor(
        async () =>
          (
            (await service.json('/health')).body as {
              circuit_breakers: Record<string, { opened_count: number }>;
            }
          ).circuit_breakers.redis_cache!.opened_count > 0,
        { timeoutMs: 20_000, message: 'redis_cache opened by refused writes' },
      );
      const lines = service.logLines().filter((l) => l.kind === 'command:OOM');
      expect(lines.length).toBeGreaterThan(0);
      expect(String(lines[0]!.error_message)).toMatch(/^OOM /);
    } finally {
      stop = true;
      await traffic;
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
      await service.stop();
    }
  }, 60_000);
});

describe('dependency errors reach the log rate-limited', () => {
  it('a blackholed Redis writes a bounded number of lines, one naming the error, none with the password', async () => {
    const redis = await RedisProcess.start({ extraArgs: ['--requirepass', PASSWORD] });
    const proxy = await FaultProxy.start({ targetPort: redis.port });
    const INTERVAL_S = 2;
    const service = await ServiceProcess.start({
      REDIS_URL: `redis://default:${PASSWORD}@127.0.0.1:${proxy.port}/0`,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      REDIS_CIRCUIT_RECOVERY_TIMEOUT: '2',
      CIRCUIT_LOG_SUMMARY_INTERVAL: String(INTERVAL_S),
    });
    try {
      await waitFor(async () => (await service.json('/v1/cache/w', put(1))).body.stored?.l2, {
        timeoutMs: 10_000,
        message: 'Redis reachable through the proxy',
      });
      const before = service.logLines().length;
      await proxy.setMode('blackhole');
      const DURATION_MS = 20_000;
      const end = Date.now() + DURATION_MS;
      let requests = 0;
      // Steady traffic: about 20 requests a second, 400 in all.
      while (Date.now() < end) {
        await Promise.all([
          service.fetch(`/v1/cache/k${requests % 10}`).then((r) => r.arrayBuffer()),
          service.fetch(`/v1/cache/k${requests % 10}`, put(requests)).then((r) => r.arrayBuffer()),
        ]);
        requests += 2;
        await sleep(100);
      }
      const during = service.logLines().slice(before);
      const perMinute = (during.length * 60_000) / DURATION_MS;
      // The bound, per minute of outage with a 2 s interval and a 2 s recovery timeout:
      // per error kind one line plus one per interval (30), the breaker's transitions
      // (open -> half_open -> open at most every recovery timeout plus a probe: 60) and its
      // summary (30). Observed: well under it; a line per request would be ~1200 per minute.
      const byEvent: Record<string, number> = {};
      for (const l of during) byEvent[String(l.event)] = (byEvent[String(l.event)] ?? 0) + 1;
      console.log(
        `blackhole: ${during.length} log lines in ${DURATION_MS / 1000} s (${perMinute.toFixed(0)}/min) for ${requests} requests`,
        byEvent,
      );
      expect(perMinute).toBeLessThanOrEqual(240);
      expect(during.length).toBeLessThan(requests / 2);
      const named = during.filter(
        (l) =>
          (l.event === 'dependency_error' || l.event === 'dependency_error_summary') &&
          l.dependency === 'redis',
      );
      expect(named.length).toBeGreaterThan(0);
      expect(named.some((l) => /timed out|timeout|Socket/i.test(String(l.error_message)))).toBe(
        true,
      );
      expect(service.output).not.toContain(PASSWORD);
      const h = await health(service);
      expect(h.status).toBe('degraded');
      expect(JSON.stringify(h)).not.toContain(PASSWORD);
      // The log-noise metric counts what was folded into summaries.
      const metrics = await (await fetch(service.metricsUrl)).text();
      expect(metrics).toMatch(
        /breakerbox_dependency_log_events_total\{[^}]*disposition="suppressed"[^}]*\} [1-9]/,
      );
    } finally {
      await service.stop();
      await proxy.close();
    }
  }, 90_000);
});

describe('/metrics carries HTTP and runtime telemetry', () => {
  it('has http_server_request_duration_seconds by route template (never a raw key) and Node.js runtime series', async () => {
    const redis = await RedisProcess.start();
    const models = await makeModels();
    const service = await ServiceProcess.start({
      REDIS_URL: redis.url,
      EMBEDDING_MODEL: models.text,
      CODE_EMBEDDING_MODEL: models.code,
      MODELS_DIR: models.dir,
    });
    try {
      const secretKey = 'user-4711-secret-key';
      await service.fetch(`/v1/cache/${secretKey}`, put('x')).then((r) => r.arrayBuffer());
      await service.fetch(`/v1/cache/${secretKey}`).then((r) => r.arrayBuffer());
      await service.fetch('/v1/cache/never-stored-key').then((r) => r.arrayBuffer());
      await service.fetch('/no/such/route/raw-path-123').then((r) => r.arrayBuffer());
      await service.fetch('/health').then((r) => r.arrayBuffer());
      await service
        .fetch('/v1/embeddings', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: 'hello' }),
        })
        .then((r) => r.arrayBuffer());
      const text = await waitFor(
        async () => {
          const t = await (await fetch(service.metricsUrl)).text();
          return t.includes('nodejs_eventloop_delay') ? t : undefined;
        },
        { timeoutMs: 10_000, message: 'runtime metrics exported' },
      );
      const series = text!
        .split('\n')
        .filter((l) => l.startsWith('http_server_request_duration_seconds'));
      expect(series.some((l) => l.startsWith('http_server_request_duration_seconds_bucket'))).toBe(
        true,
      );
      const routes = new Set(
        series.flatMap((l) => [...l.matchAll(/http_route="([^"]*)"/g)].map((m) => m[1]!)),
      );
      expect(routes).toContain('/v1/cache/:key');
      expect(routes).toContain('/health');
      expect(routes).toContain('/v1/embeddings');
      for (const route of routes) expect(route).not.toMatch(/secret|never-stored|raw-path/);
      expect(text!).not.toContain(secretKey);
      expect(text).not.toContain('raw-path-123');
      expect(text).toMatch(
        /http_server_request_duration_seconds_count\{[^}]*http_request_method="PUT"[^}]*http_response_status_code="200"[^}]*\} 1/,
      );
      expect(text).toMatch(/http_response_status_code="404"/);
      // Node.js runtime: event-loop delay and V8 heap.
      expect(text).toMatch(/^nodejs_eventloop_delay_p99 /m);
      expect(text).toMatch(/^v8js_memory_heap_used\{/m);
    } finally {
      await service.stop();
    }
  }, 60_000);
});
