import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FaultProxy,
  freePort,
  RedisCluster,
  RedisProcess,
  stopAllClusters,
  stopAllRedis,
  makeModels,
  ServiceProcess,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';
import { localPrometheusConfig } from './prometheus-config.js';
import { listStackQueries } from './queries.js';
import { requireTool } from './tools.js';

/**
 * The real `prometheus` binary loads the project's rule files and scrapes the real service
 * (the committed scrape config, pointed at localhost) through a scripted outage; then every
 * dashboard query, recording rule and alert expression is evaluated through its HTTP API.
 * A second instance runs on a three-master Redis Cluster, one master of which is killed in
 * the outage, so the "Redis Cluster shards" row and the shard alert have data too.
 */
let redis: RedisProcess;
let proxy: FaultProxy;
let service: ServiceProcess;
let cluster: RedisCluster;
let onCluster: ServiceProcess;
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let workDir = '';
let prometheusLog = '';

interface PromResult {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: Array<{ metric: Record<string, string>; value: [number, string] }>;
  };
}

async function query(promql: string): Promise<PromResult> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  return (await res.json()) as PromResult;
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  const binary = requireTool('prometheus');
  redis = await RedisProcess.start();
  proxy = await FaultProxy.start({ targetPort: redis.port });
  const models = await makeModels();
  service = await ServiceProcess.start({
    REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`,
    REDIS_COMMAND_TIMEOUT_MS: '100',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '60',
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: path.join(models.dir, 'missing-code-model'),
    EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT: '60',
  });

  cluster = await RedisCluster.start({ masters: 3 });
  onCluster = await ServiceProcess.start({
    REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    REDIS_COMMAND_TIMEOUT_MS: '100',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '60',
    CACHE_JOURNAL_DIR: mkdtempSync(path.join(tmpdir(), 'breakerbox-prometheus-journal-')),
  });

  workDir = mkdtempSync(path.join(tmpdir(), 'breakerbox-prometheus-'));
  const config = path.join(workDir, 'prometheus.yml');
  writeFileSync(
    config,
    localPrometheusConfig({
      targets: [`127.0.0.1:${service.metricsPort}`, `127.0.0.1:${onCluster.metricsPort}`],
      scrapeInterval: '1s',
    }),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(workDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (d: Buffer) => (prometheusLog += d.toString()));
  prometheus.stderr!.on('data', (d: Buffer) => (prometheusLog += d.toString()));
  await waitFor(
    async () => {
      const res = await fetch(`${prometheusUrl}/-/ready`).catch(() => undefined);
      return res?.ok === true;
    },
    { timeoutMs: 20_000, intervalMs: 100, message: `prometheus ready\n${prometheusLog}` },
  );

  // Prometheus applies discovered targets every 5 s: wait for the first scrape, so the
  // counters are seen at their starting values before anything happens.
  await waitFor(async () => ((await query('up{job="breakerbox"}')).data?.result.length ?? 0) > 1, {
    timeoutMs: 20_000,
    intervalMs: 200,
    message: 'first scrape of both instances',
  });
  // Healthy traffic first, so rates have a "before".
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    await service.json('/v1/cache/k', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"value":1}',
    });
    await service.json('/v1/cache/k');
    await service.json('/v1/cache/miss');
    await service.json('/v1/embeddings', post({ input: 'hello' }));
    await new Promise((r) => setTimeout(r, 100));
  }
  // The outage: Redis blackholed (redis_cache opens), the code model missing (embedding_service
  // opens), and on the cluster instance one master killed (only its shard breaker opens).
  await proxy.setMode('blackhole');
  const [deadMaster] = await cluster.masters();
  await cluster.kill(deadMaster!.port);
  const clusterKeys = Array.from({ length: 12 }, (_, i) => `spread:${i}`);
  for (let i = 0; i < 3; i++)
    await service.json('/v1/embeddings', post({ input: 'x', kind: 'code' }));
  const outageEnd = Date.now() + 4_000;
  while (Date.now() < outageEnd) {
    await service.json('/v1/cache/absent');
    await service.json('/v1/embeddings', post({ input: 'x' }));
    await Promise.all(clusterKeys.map((k) => onCluster.json(`/v1/cache/${k}`)));
    await new Promise((r) => setTimeout(r, 50));
  }
  const health = await service.json('/health');
  expect(health.body.circuit_breakers.redis_cache.state).toBe('open');
  expect(health.body.circuit_breakers.embedding_service.state).toBe('open');
  const deadShard = `redis_cache:${deadMaster!.slots[0]![0]}`;
  const clusterHealth = await onCluster.json('/health');
  expect(clusterHealth.body.circuit_breakers[deadShard].state).toBe('open');
  expect(clusterHealth.body.circuit_breakers.redis_cache.shards.not_closed).toEqual([deadShard]);
  // Let the rules evaluate over a few scrapes of the outage.
  await waitFor(
    async () =>
      ((await query('ALERTS{alertname="CriticalCircuitOpen"}')).data?.result.length ?? 0) > 0,
    {
      timeoutMs: 20_000,
      intervalMs: 500,
      message: 'CriticalCircuitOpen pending or firing',
    },
  );
}, 120_000);

afterAll(async () => {
  prometheus?.kill('SIGKILL');
  await stopAllServices();
  await proxy?.close();
  await stopAllRedis();
  await stopAllClusters();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the real Prometheus against the real service', () => {
  const queries = listStackQueries({ rateInterval: '30s' });

  it('knows every query of the stack', () => {
    expect(queries.filter((q) => q.kind === 'dashboard').length).toBeGreaterThan(5);
    expect(queries.filter((q) => q.kind === 'recording').length).toBeGreaterThan(3);
    expect(queries.filter((q) => q.kind === 'alert').length).toBe(6);
  });

  it('scrapes the service job', async () => {
    const up = await query('up{job="breakerbox"}');
    expect(up.data?.result.map((r) => r.value[1])).toEqual(['1', '1']);
  });

  it('the Redis Cluster shards row and alert see the one open shard; the breaker panels never list shards', async () => {
    const dashboard = (title: string): string =>
      queries.find((q) => q.kind === 'dashboard' && q.name.includes(`/ ${title} / A`))!.promql;
    const openShards = await query(dashboard('Open shards'));
    expect(openShards.data!.result.map((r) => r.value[1])).toEqual(['1']);
    const byState = await query(dashboard('Shard breakers by state'));
    const states = Object.fromEntries(
      byState.data!.result.map((r) => [r.metric.state, Number(r.value[1])]),
    );
    expect(states).toEqual({ closed: 2, half_open: 0, open: 1 });
    const timeline = await query(dashboard('Shard state — fleet (worst instance)'));
    const shardStates = Object.fromEntries(
      timeline.data!.result.map((r) => [r.metric.circuit_breaker_name, r.value[1]]),
    );
    expect(Object.keys(shardStates)).toHaveLength(3);
    expect(Object.entries(shardStates).filter(([, v]) => v === '2')).toHaveLength(1);
    // The fleet state timeline: redis_cache and embedding_service, never a shard.
    const fleet = await query(dashboard('Circuit state — fleet (worst instance)'));
    expect(fleet.data!.result.map((r) => r.metric.circuit_breaker_name).sort()).toEqual([
      'embedding_service',
      'redis_cache',
    ]);
    // The shard alert's expression (its `for` aside) names the dead shard only.
    const alert = queries.find((q) => q.alert === 'RedisClusterShardOpenTooLong')!;
    const firing = await query(alert.promql);
    expect(firing.data!.result.map((r) => r.metric.circuit_breaker_name)).toHaveLength(1);
    expect(firing.data!.result[0]!.metric.circuit_breaker_name).toMatch(/^redis_cache:\d+$/);
  });

  it('evaluates every dashboard query and recording rule without error, with data', async () => {
    const failures: string[] = [];
    for (const q of queries.filter((x) => x.kind !== 'alert')) {
      const result = await query(q.promql);
      if (result.status !== 'success') failures.push(`${q.kind} ${q.name}: ${result.error}`);
      else if ((result.data?.result.length ?? 0) === 0)
        failures.push(`${q.kind} ${q.name}: no data for ${q.promql}`);
    }
    expect(failures).toEqual([]);
  });

  it('scrapes the HTTP histogram by route template (never a raw key) and the runtime metrics', async () => {
    const routes = await query(
      'count by (http_route) (http_server_request_duration_seconds_count)',
    );
    const names = routes.data!.result.map((r) => r.metric.http_route);
    expect(names).toContain('/v1/cache/:key');
    expect(names).toContain('/v1/embeddings');
    for (const name of names) expect(name).not.toMatch(/\/(k|miss|absent)$/);
    for (const metric of ['nodejs_eventloop_delay_p99', 'v8js_memory_heap_used']) {
      expect((await query(metric)).data!.result.length, metric).toBeGreaterThan(0);
    }
    // The 503s of the open embedding_service are in the recorded 5xx ratio.
    const ratio = await query(
      'job:http_server_requests_errors:ratio_rate1m{http_route="/v1/embeddings"}',
    );
    expect(Number(ratio.data!.result[0]?.value[1])).toBeGreaterThan(0);
  });

  it('evaluates every alert expression without error', async () => {
    for (const q of queries.filter((x) => x.kind === 'alert')) {
      const result = await query(q.promql);
      expect(result.status, `${q.name}: ${result.error}`).toBe('success');
    }
  });

  it('the critical-open alert names embedding_service and not redis_cache', async () => {
    const alert = queries.find((q) => q.alert === 'CriticalCircuitOpen')!;
    const result = await query(alert.promql);
    const names = result.data!.result.map((r) => r.metric.circuit_breaker_name);
    expect(names).toContain('embedding_service');
    expect(names).not.toContain('redis_cache');
    const alerts = await query('ALERTS{alertname="CriticalCircuitOpen"}');
    expect(alerts.data!.result.map((r) => r.metric.circuit_breaker_name)).toEqual([
      'embedding_service',
    ]);
  });

  it('the briefly-opened alert sees the first open through the zero-initialised counter', async () => {
    const alert = queries.find((q) => q.alert === 'CriticalCircuitOpenedBriefly')!;
    const result = await query(alert.promql);
    expect(result.data!.result.map((r) => r.metric.circuit_breaker_name)).toContain(
      'embedding_service',
    );
  });
});
