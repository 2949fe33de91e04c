import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisCluster,
  ServiceProcess,
  sleep,
  stopAllClusters,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';
import { fleetWorkload, formatReports, type PhaseReport } from './fleet-workload.js';

// fleet.test.ts's workload and checker on a real three-master Redis Cluster: three service
// processes with REDIS_CLUSTER_NODES, a clean phase and a phase in which one master is
// SIGKILLed and restarted empty. No read may return a value older than a write that had
// answered `l2: true` 100 ms or more before the read began.

const REPLICAS = 3;
let cluster: RedisCluster;
const services: Array<ServiceProcess | undefined> = [];
const reports: PhaseReport[] = [];
const { request, runPhase } = fleetWorkload({
  services: () => services,
  opsPerPhase: 600,
  workers: 6,
  keysPerPhase: 24,
  reports,
});

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  const started = await Promise.all(
    Array.from({ length: REPLICAS }, () =>
      ServiceProcess.start({
        REDIS_CLUSTER_NODES: cluster.seeds.join(','),
        REDIS_COMMAND_TIMEOUT_MS: '200',
        REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
        REDIS_CIRCUIT_RECOVERY_TIMEOUT: '0.5',
        CACHE_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'bb-cluster-fleet-')),
        LOG_LEVEL: 'warn',
      }),
    ),
  );
  services.push(...started);
  await allServing();
}, 60_000);

afterAll(async () => {
  console.log('cluster fleet results:\n' + formatReports(reports));
  await stopAllServices();
  await stopAllClusters();
});

/** Every replica writes to Redis on every shard (keys spread over the three masters). */
async function allServing(): Promise<void> {
  for (let i = 0; i < REPLICAS; i++) {
    for (const key of ['fleet:a', 'fleet:b', 'fleet:c', 'fleet:d', 'fleet:e', 'fleet:f']) {
      await waitFor(
        async () => {
          const r = await request(i, 'PUT', key, { value: 1 });
          return (r?.body.stored as { l2: boolean } | undefined)?.l2 === true;
        },
        { timeoutMs: 20_000, intervalMs: 100, message: `replica ${i} serving ${key}` },
      );
    }
  }
}

describe('a fleet of three replicas on a three-master Redis Cluster', () => {
  it('clean: no stale reads', async () => {
    const r = await runPhase('cclean', 11);
    expect(r.reads).toBeGreaterThan(200);
    expect(r.acked).toBeGreaterThan(100);
    expect(r.invalidationMs.samples).toBeGreaterThan(0);
    expect(r.staleReads).toBe(0);
  }, 60_000);

  it('one master SIGKILLed and restarted empty: no stale reads', async () => {
    const [victim] = await cluster.masters();
    const r = await runPhase('ckill', 12, async () => {
      await cluster.kill(victim!.port);
      await sleep(1_000);
      await cluster.restart(victim!.port);
    });
    expect(r.acked).toBeGreaterThan(50);
    expect(r.staleReads).toBe(0);
    await allServing();
  }, 90_000);
});
