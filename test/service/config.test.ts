import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import {
  freePort,
  makeModels,
  ROOT,
  ServiceProcess,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';

afterAll(async () => {
  await stopAllServices();
});

describe('configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8001);
    expect(config.redis.url).toBe('redis://127.0.0.1:6379/0');
    expect(config.redis.commandTimeoutMs).toBe(500);
    expect(config.redis.breaker).toEqual({
      failureThreshold: 5,
      recoveryTimeoutMs: 30_000,
      halfOpenMaxCalls: 1,
    });
    expect(config.embedding.breaker).toEqual({
      failureThreshold: 3,
      recoveryTimeoutMs: 60_000,
      halfOpenMaxCalls: 1,
    });
    expect(config.criticalCircuits).toEqual(['embedding_service']);
    expect(config.adminToken).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.otel).toMatchObject({
      prometheusPort: 9464,
      tracesExporter: 'none',
      serviceName: 'breakerbox',
    });
  });

  it('takes fractional seconds and lists', () => {
    const config = loadConfig({
      REDIS_CIRCUIT_RECOVERY_TIMEOUT: '0.25',
      EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT: '1.5',
      CRITICAL_CIRCUITS: 'redis_cache, embedding_service',
      LOG_LEVEL: 'DEBUG',
      OTEL_TRACES_EXPORTER: 'console',
    });
    expect(config.redis.breaker.recoveryTimeoutMs).toBe(250);
    expect(config.embedding.breaker.recoveryTimeoutMs).toBe(1_500);
    expect(config.criticalCircuits).toEqual(['redis_cache', 'embedding_service']);
    expect(config.logLevel).toBe('debug');
    expect(config.otel.tracesExporter).toBe('console');
    expect(loadConfig({ CRITICAL_CIRCUITS: ' ' }).criticalCircuits).toEqual(['embedding_service']);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://example.invalid'],
    ['REDIS_COMMAND_TIMEOUT_MS', '0'],
    ['REDIS_CIRCUIT_FAILURE_THRESHOLD', '-3'],
    ['REDIS_CIRCUIT_RECOVERY_TIMEOUT', 'soon'],
    ['REDIS_CIRCUIT_HALF_OPEN_CALLS', '1.5'],
    ['EMBEDDING_CIRCUIT_FAILURE_THRESHOLD', '0'],
    ['EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT', '-1'],
    ['EMBEDDING_CIRCUIT_HALF_OPEN_CALLS', 'two'],
    ['CRITICAL_CIRCUITS', 'embedding'],
    ['ADMIN_TOKEN', 'short'],
    ['LOG_LEVEL', 'loud'],
    ['OTEL_TRACES_EXPORTER', 'jaeger'],
    ['OTEL_EXPORTER_PROMETHEUS_PORT', 'x'],
    ['EMBEDDING_ALLOW_DOWNLOAD', 'maybe'],
    ['EMBEDDING_LOAD_TIMEOUT', '0'],
  ])('rejects %s=%s, naming the variable', (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });

  it('never echoes a Redis password in its error', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://user:hunter2-secret@host:notaport/0' })).toThrow(
      ConfigError,
    );
    try {
      loadConfig({ REDIS_URL: 'redis://user:hunter2-secret@host:notaport/0' });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2-secret');
    }
  });
});

describe('start-up', () => {
  it.each([
    ['REDIS_CIRCUIT_FAILURE_THRESHOLD', 'zero'],
    ['CRITICAL_CIRCUITS', 'embedding'],
    ['PORT', '-1'],
  ])('an invalid %s stops start-up with a message naming it', (variable, value) => {
    const result = spawnSync(process.execPath, ['dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', [variable]: value },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(variable);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('starts with no Redis reachable: it answers, the breaker opens, health says degraded; /admin is 404 without a token', async () => {
    const models = await makeModels();
    const deadPort = await freePort(); // nothing listens here
    const service = await ServiceProcess.start({
      REDIS_URL: `redis://127.0.0.1:${deadPort}/0`,
      REDIS_CIRCUIT_FAILURE_THRESHOLD: '2',
      EMBEDDING_MODEL: models.text,
      CODE_EMBEDDING_MODEL: models.code,
    });
    expect((await service.json('/health/live')).status).toBe(200);
    await waitFor(
      async () => {
        const res = await service.json('/v1/cache/anything');
        expect(res.status).toBe(404);
        return res.headers.get('x-circuit-open') === 'redis_cache';
      },
      { timeoutMs: 10_000, message: 'redis_cache open' },
    );
    const health = await service.json('/health');
    expect(health.body.status).toBe('degraded');
    expect(health.body.circuit_breakers.redis_cache.state).toBe('open');
    expect((await service.json('/health/ready')).status).toBe(200);
    const put = await service.json('/v1/cache/k', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"value":1}',
    });
    expect(put.body).toEqual({ key: 'k', stored: { l1: true, l2: false } });
    expect((await service.json('/v1/cache/k')).body.source).toBe('l1');
    const admin = await service.json('/admin/circuit-breakers/redis_cache/reset', {
      method: 'POST',
    });
    expect(admin.status).toBe(404);
    expect((await service.json('/admin')).status).toBe(404);
    expect(await service.stop('SIGINT')).toBe(0);
  });
});
