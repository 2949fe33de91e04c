import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FaultProxy,
  RedisProcess,
  stopAllRedis,
  makeModels,
  ServiceProcess,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';

const PASSWORD = 's3cret-Redis-pw';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

let redis: RedisProcess;
let proxy: FaultProxy;
let service: ServiceProcess;

const json = (body: unknown): RequestInit => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const embed = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  redis = await RedisProcess.start({ extraArgs: ['--requirepass', PASSWORD] });
  proxy = await FaultProxy.start({ targetPort: redis.port });
  const models = await makeModels();
  service = await ServiceProcess.start({
    REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${proxy.port}/0`,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '1',
    CACHE_L1_MAX_ENTRIES: '2',
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: models.code,
    MODELS_DIR: models.dir,
    ADMIN_TOKEN,
    OTEL_TRACES_EXPORTER: 'console',
    CIRCUIT_LOG_SUMMARY_INTERVAL: '1',
  });
  await waitFor(
    async () =>
      (await service.json('/v1/cache/warmup', json({ value: 1 }))).body.stored?.l2 === true,
    {
      timeoutMs: 10_000,
      message: 'Redis reachable through the proxy',
    },
  );
}, 60_000);

afterAll(async () => {
  await stopAllServices();
  await proxy?.close();
  await stopAllRedis();
});

describe('the service end to end, as npm start runs it', () => {
  it('answers health while everything is up', async () => {
    const health = await service.json('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'healthy', critical_circuits_open: [] });
    expect(Object.keys(health.body.circuit_breakers).sort()).toEqual([
      'embedding_service',
      'redis_cache',
    ]);
    expect(health.body.circuit_breakers.embedding_service).toMatchObject({
      service: 'embedding_service',
      state: 'closed',
      critical: true,
      config: { failure_threshold: 3, recovery_timeout: 60, half_open_max_calls: 1 },
    });
    expect(new Date(health.body.timestamp).getTime()).toBeGreaterThan(0);
    expect((await service.fetch('/health/live')).status).toBe(200);
    expect((await service.json('/health/ready')).body).toEqual({
      status: 'ready',
      critical_circuits_open: [],
    });
  });

  it('stores, reads from L1 and L2, and deletes through the cache routes', async () => {
    expect(
      (await service.json('/v1/cache/user:1', json({ value: { name: 'Ada' }, ttl_seconds: 60 })))
        .body,
    ).toEqual({
      key: 'user:1',
      stored: { l1: true, l2: true },
    });
    // Redis echoes the service's own (scripted) write as an invalidation, so the first read
    // after a write may come from Redis; the next one is an L1 hit.
    await waitFor(async () => (await service.json('/v1/cache/user:1')).body.source === 'l1', {
      timeoutMs: 5_000,
      message: 'user:1 served from L1',
    });
    expect((await service.json('/v1/cache/user:1')).body).toEqual({
      key: 'user:1',
      value: { name: 'Ada' },
      source: 'l1',
    });
    // L1 holds two entries: two more writes push user:1 out of it, so Redis answers.
    for (const k of ['user:2', 'user:3']) {
      await service.json(`/v1/cache/${k}`, json({ value: 2 }));
      await waitFor(async () => (await service.json(`/v1/cache/${k}`)).body.source === 'l1', {
        timeoutMs: 5_000,
      });
    }
    const fromRedis = await service.json('/v1/cache/user:1');
    expect(fromRedis.body).toEqual({ key: 'user:1', value: { name: 'Ada' }, source: 'l2' });
    expect(fromRedis.headers.get('content-type')).toBe('application/json');
    expect(fromRedis.headers.get('x-cache-stale')).toBeNull();
    expect((await service.json('/v1/cache/user:1', { method: 'DELETE' })).body).toEqual({
      key: 'user:1',
      deleted: { l1: true, l2: true },
    });
    const miss = await service.json('/v1/cache/user:1');
    expect(miss.status).toBe(404);
    expect(miss.body).toMatchObject({ error: 'not_found', key: 'user:1' });
    expect(miss.headers.get('x-circuit-open')).toBeNull();
  });

  it('embeds text and code in the shape of common embedding APIs', async () => {
    const text = await service.json(
      '/v1/embeddings',
      embed({ input: ['hello world', 'circuit breaker'] }),
    );
    expect(text.status).toBe(200);
    expect(text.body).toMatchObject({ object: 'list', kind: 'text', dimension: 64 });
    expect(text.body.data).toHaveLength(2);
    expect(text.body.data[1]).toMatchObject({ object: 'embedding', index: 1 });
    expect(text.body.data[0].embedding).toHaveLength(64);
    const code = await service.json(
      '/v1/embeddings',
      embed({ input: 'function f() {}', kind: 'code' }),
    );
    expect(code.status).toBe(200);
    expect(code.body.kind).toBe('code');
    expect(code.body.model).not.toBe(text.body.model);
  });

  it('lists the registry and guards the admin routes', async () => {
    const breakers = await service.json('/v1/circuit-breakers');
    expect(Object.keys(breakers.body).sort()).toEqual(['embedding_service', 'redis_cache']);
    expect((await service.json('/v1/circuit-breakers/nope')).status).toBe(404);
    const path = '/admin/circuit-breakers/embedding_service/open';
    expect((await service.json(path, { method: 'POST' })).status).toBe(401);
    expect(
      (
        await service.json(path, {
          method: 'POST',
          headers: { authorization: 'Bearer wrong-token-wrong-token' },
        })
      ).status,
    ).toBe(401);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const opened = await service.json(path, { method: 'POST', headers: auth });
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({
      name: 'embedding_service',
      action: 'open',
      state: 'open',
      mode: 'isolated',
    });
    const health = await service.json('/health');
    expect(health.body.status).toBe('degraded');
    expect(health.body.critical_circuits_open).toEqual(['embedding_service']);
    expect((await service.json('/health/ready')).status).toBe(503);
    const rejected = await service.json('/v1/embeddings', embed({ input: 'x' }));
    expect(rejected.status).toBe(503);
    expect(rejected.body).toMatchObject({
      error: 'circuit_open',
      service: 'embedding_service',
      state: 'open',
    });
    await service.json('/admin/circuit-breakers/embedding_service/reset', {
      method: 'POST',
      headers: auth,
    });
    expect((await service.json('/health/ready')).status).toBe(200);
    expect(
      (await service.json('/admin/circuit-breakers/nope/reset', { method: 'POST', headers: auth }))
        .status,
    ).toBe(404);
  });

  it('keeps the cache answering when Redis is killed, and recovers when it is back', async () => {
    await service.json('/v1/cache/kept', json({ value: 'in-l1' }));
    await waitFor(async () => (await service.json('/v1/cache/kept')).body.source === 'l1', {
      timeoutMs: 5_000,
    });
    await redis.kill('SIGKILL');
    // Failures open the breaker; every answer meanwhile is a 2xx/404 from L1, never a 5xx.
    await waitFor(
      async () => {
        const res = await service.json('/v1/cache/absent');
        expect(res.status).toBe(404);
        return res.headers.get('x-circuit-open') === 'redis_cache';
      },
      { timeoutMs: 10_000, message: 'redis_cache breaker open' },
    );
    // Within 5 s of losing coherence, L1 copies still answer, marked as a fallback.
    const kept = await service.json('/v1/cache/kept');
    expect(kept.status).toBe(200);
    expect(kept.body.source).toBe('l1');
    expect(kept.headers.get('x-cache-stale')).toBe('true');
    expect(kept.headers.get('content-type')).toBe('application/json');
    const write = await service.json('/v1/cache/during', json({ value: 1 }));
    expect(write.status).toBe(200);
    expect(write.body.stored).toEqual({ l1: true, l2: false });
    expect(write.headers.get('x-circuit-open')).toBe('redis_cache');
    const health = await service.json('/health');
    expect(health.body.status).toBe('degraded');
    expect(health.body.circuit_breakers.redis_cache.state).toBe('open');
    expect(health.body.critical_circuits_open).toEqual([]); // redis_cache is not critical
    expect((await service.json('/health/ready')).status).toBe(200);

    await redis.restart();
    await waitFor(
      async () => {
        await service.json('/v1/cache/probe');
        return (await service.json('/health')).body.status === 'healthy';
      },
      { timeoutMs: 15_000, intervalMs: 200, message: 'redis_cache closed again' },
    );
  });

  it('exports every circuit_breaker_* and breakerbox_* series on /metrics with the right labels', async () => {
    const text = await (await fetch(service.metricsUrl)).text();
    for (const series of [
      'circuit_breaker_state{circuit_breaker_name="redis_cache",state="closed",critical="false"} 1',
      'circuit_breaker_state{circuit_breaker_name="redis_cache",state="open",critical="false"} 0',
      'circuit_breaker_state{circuit_breaker_name="embedding_service",state="half_open",critical="true"} 0',
      'circuit_breaker_transitions_total{circuit_breaker_name="redis_cache",from_state="closed",to_state="open"}',
      'circuit_breaker_transitions_total{circuit_breaker_name="redis_cache",from_state="half_open",to_state="closed"}',
      'circuit_breaker_calls_total{circuit_breaker_name="redis_cache",outcome="success"}',
      'circuit_breaker_calls_total{circuit_breaker_name="redis_cache",outcome="failure"}',
      'circuit_breaker_calls_total{circuit_breaker_name="redis_cache",outcome="rejected"}',
      'circuit_breaker_calls_total{circuit_breaker_name="embedding_service",outcome="ignored"}',
      'circuit_breaker_call_duration_bucket{circuit_breaker_name="redis_cache",outcome="rejected",le="0.000001"}',
      'circuit_breaker_call_duration_sum{circuit_breaker_name="redis_cache",outcome="success"}',
      'circuit_breaker_call_duration_count{circuit_breaker_name="redis_cache",outcome="failure"}',
      'circuit_breaker_log_events_total{circuit_breaker_name="redis_cache",disposition="emitted"}',
      'circuit_breaker_log_events_total{circuit_breaker_name="redis_cache",disposition="suppressed"}',
      'breakerbox_cache_lookups_total{result="l1"}',
      'breakerbox_embedding_duration_bucket{kind="text",le="0.005"}',
    ]) {
      expect(text, series).toContain(series);
    }
    const rejected =
      /circuit_breaker_calls_total\{circuit_breaker_name="redis_cache",outcome="rejected"\} (\d+)/.exec(
        text,
      );
    expect(Number(rejected?.[1])).toBeGreaterThan(0);
  });

  it('writes the state-change span event to the console trace exporter and one log line per change', () => {
    expect(service.output).toContain('circuit_breaker.state_change');
    const changes = service.logLines().filter((l) => l.event === 'circuit_breaker.state_change');
    // A change caused by a request is logged with that request's trace and span ids.
    const opened = changes.find(
      (l) => l['circuit_breaker.name'] === 'redis_cache' && l.to === 'open',
    );
    expect(opened?.trace_id).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
    expect(opened?.span_id).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
    expect(changes.map((l) => `${l['circuit_breaker.name']}:${l.to}`)).toEqual(
      expect.arrayContaining([
        'redis_cache:open',
        'redis_cache:half_open',
        'redis_cache:closed',
        'embedding_service:open',
      ]),
    );
  });

  it('never shows the Redis password in health, the registry, metrics or logs', async () => {
    const bodies = [
      await (await service.fetch('/health')).text(),
      await (await service.fetch('/v1/circuit-breakers')).text(),
      await (await fetch(service.metricsUrl)).text(),
      service.output,
    ];
    for (const body of bodies) expect(body).not.toContain(PASSWORD);
    expect((await service.json('/health')).body.dependencies.redis.url).toBe(
      `redis://***@127.0.0.1:${proxy.port}/0`,
    );
  });

  it('finishes in-flight requests on SIGTERM and exits 0', async () => {
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      service.json(
        '/v1/embeddings',
        embed({ input: Array.from({ length: 32 }, (_, j) => `text ${i} ${j}`) }),
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    const code = service.stop('SIGTERM');
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(await code).toBe(0);
    expect(service.output).not.toMatch(/unhandled/i);
  });
});
