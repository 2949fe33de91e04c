/**
 * The cache on a Redis Cluster (REDIS_CLUSTER_NODES) against standalone Redis: cache GET
 * through the service's HTTP route (in process, app.request) on an L1 hit and an L2 hit, on a
 * private redis-server and on a private three-master cluster, in the same run; then the
 * cluster's throughput (concurrent GET/PUT over keys spread on every shard) with every shard
 * healthy and with one master SIGKILLed (its breaker open). `tsx bench/cluster.ts [--quick]`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisCluster, RedisProcess, sleep, stopAllClusters, waitFor } from '@breakerbox/devkit';
import { buildService, type Service } from '../src/composition/build-service.js';
import { createLogger } from '../src/composition/logger.js';
import { loadConfig } from '../src/config/config.js';

const quick = process.argv.includes('--quick');
const N = quick ? 2_000 : 10_000;
const THROUGHPUT_MS = quick ? 1_500 : 4_000;
const value = { name: 'Ada', tags: ['a', 'b', 'c'], n: 42 };

function build(env: Record<string, string>): Service {
  return buildService(
    loadConfig({
      ...env,
      // Two L1 entries and alternating L2 keys: every L2-case read misses L1.
      CACHE_L1_MAX_ENTRIES: '2',
      REDIS_COMMAND_TIMEOUT_MS: '200',
      REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
      CACHE_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'bb-bench-cluster-')),
      LOG_LEVEL: 'silent',
    }),
    { logger: createLogger('silent', 'bench'), openTelemetry: false },
  );
}

async function measure(op: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(N, 1_000); i++) await op(i);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await op(i);
    rounds.push(Number(process.hrtime.bigint() - t0) / N / 1000);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2]!; // median, µs per op
}

async function getCases(label: string, service: Service): Promise<Record<string, number>> {
  const put = (k: string) =>
    service.app.request(`/v1/cache/${k}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
    });
  await put('hot');
  const cold = Array.from({ length: 12 }, (_, i) => `cold:${i}`);
  for (const k of cold) await put(k);
  const l1 = await measure(() => service.app.request('/v1/cache/hot'));
  const l2 = await measure((i) => service.app.request(`/v1/cache/${cold[i % cold.length]!}`));
  console.log(
    `${label.padEnd(12)} GET L1 hit ${l1.toFixed(1)} µs/op   GET L2 hit ${l2.toFixed(1)} µs/op`,
  );
  return { l1, l2 };
}

/** 32 concurrent loops of GET (80 %) / PUT (20 %) over 600 keys for THROUGHPUT_MS. */
async function throughput(service: Service): Promise<{ opsPerSec: number; errors5xx: number }> {
  let ops = 0;
  let errors5xx = 0;
  const until = performance.now() + THROUGHPUT_MS;
  const loop = async (w: number): Promise<void> => {
    for (let i = w; performance.now() < until; i += 32) {
      const key = `tp:${i % 600}`;
      const res =
        i % 5 === 0
          ? await service.app.request(`/v1/cache/${key}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ value }),
            })
          : await service.app.request(`/v1/cache/${key}`);
      await res.arrayBuffer();
      if (res.status >= 500) errors5xx++;
      ops++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, (_, w) => loop(w)));
  return { opsPerSec: (ops / (performance.now() - t0)) * 1000, errors5xx };
}

const redis = await RedisProcess.start();
const standalone = build({ REDIS_URL: redis.url });
await sleep(300);
const s = await getCases('standalone', standalone);
await standalone.close();
await redis.stop();

const cluster = await RedisCluster.start({ masters: 3 });
const onCluster = build({ REDIS_CLUSTER_NODES: cluster.seeds.join(',') });
await waitFor(() => onCluster.registry.list().filter((b) => b.name.includes(':')).length === 3, {
  timeoutMs: 10_000,
});
await sleep(500);
const c = await getCases('cluster', onCluster);
const healthy = await throughput(onCluster);
const [victim] = await cluster.masters();
await cluster.kill(victim!.port);
const shardName = `redis_cache:${Math.min(...victim!.slots.map(([a]) => a))}`;
const down = await throughput(onCluster);
const breaker = onCluster.registry.get(shardName);
console.log(
  `cluster throughput (32 loops, 80 % GET / 20 % PUT, 600 keys): all shards healthy ` +
    `${healthy.opsPerSec.toFixed(0)} ops/s (5xx ${healthy.errors5xx}); one master SIGKILLed ` +
    `${down.opsPerSec.toFixed(0)} ops/s (5xx ${down.errors5xx}, ${shardName} ${breaker?.state})`,
);
console.log(
  `cluster/standalone: L1 hit x${(c.l1! / s.l1!).toFixed(2)}, L2 hit x${(c.l2! / s.l2!).toFixed(2)}`,
);
await onCluster.close();
await stopAllClusters();
