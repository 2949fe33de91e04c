import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisCluster,
  ServiceProcess,
  sleep,
  stopAllClusters,
  stopAllServices,
  waitFor,
  type ClusterNodeInfo,
} from '@breakerbox/devkit';
import {
  NAMESPACE,
  admin,
  clusterEnv,
  keysByShard,
  masterOf,
  metric,
  put,
  serving,
  state,
} from './cluster-service.js';

// The cache is per shard on a real three-master Redis Cluster: L1 coherence (one master down
// leaves the L1 copies of the other shards fresh) and the journal replay (one shard's
// invalidations are applied as soon as it answers, while another shard is still unreachable).

let cluster: RedisCluster;
let service: ServiceProcess;
let masters: ClusterNodeInfo[];

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  masters = await cluster.masters();
  service = await ServiceProcess.start(clusterEnv(cluster));
  await serving(service, masters);
}, 60_000);

afterAll(async () => {
  await stopAllServices();
  await stopAllClusters();
});

const get = (key: string) => service.json(`/v1/cache/${key}`);

/** Reads until L1 answers (the first read after a PUT may go to Redis: see the README). */
async function inL1(key: string, value: unknown): Promise<void> {
  await waitFor(
    async () => {
      const r = await get(key);
      expect(r.body.value).toEqual(value);
      return r.body.source === 'l1';
    },
    { timeoutMs: 5_000, intervalMs: 20, message: `${key} served from L1` },
  );
}

describe('per-shard L1 coherence', () => {
  it('one master SIGKILLed: the L1 copies of the other shards stay fresh and keep following Redis', async () => {
    const byShard = keysByShard(masters, 'coherent', 3);
    const [deadShard, ...liveShards] = [...byShard.keys()].sort((a, b) => a - b);
    const dead = masterOf(masters, deadShard!);
    const liveKeys = liveShards.flatMap((s) => byShard.get(s)!);
    const deadKeys = byShard.get(deadShard!)!;
    for (const key of [...liveKeys, ...deadKeys]) {
      expect((await put(service, key, `v-${key}`)).body.stored.l2).toBe(true);
      await inL1(key, `v-${key}`);
    }
    expect(await metric(service, 'breakerbox_cache_tracking')).toBe(1);

    await cluster.kill(dead.port);
    const deadName = `redis_cache:${deadShard}`;
    await waitFor(
      async () => {
        for (const key of deadKeys) await get(key);
        return (await state(service, deadName)) === 'open';
      },
      { timeoutMs: 15_000, intervalMs: 50, message: `${deadName} open` },
    );
    // The cache as a whole is no longer provably coherent (the dead master's tracker is off):
    // under a global rule every key would now go to Redis.
    expect(await metric(service, 'breakerbox_cache_tracking')).toBe(0);

    // Keys on the healthy shards: fresh L1 hits, not marked stale, for as long as we look.
    for (let round = 0; round < 5; round++) {
      for (const key of liveKeys) {
        const r = await get(key);
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ key, value: `v-${key}`, source: 'l1' });
        expect(r.headers.get('x-cache-stale')).toBeNull();
        expect(r.headers.get('x-circuit-open')).toBeNull();
      }
      await sleep(100);
    }
    // Still coherent, not just cached: another client's write on a healthy shard reaches this
    // L1 (an invalidation), and a read 100 ms or more later sees it.
    const [key] = liveKeys;
    const owner = masterOf(masters, liveShards[0]!);
    const stamped = await cluster.cli(owner.port, 'GET', NAMESPACE + key);
    await cluster.cli(
      owner.port,
      'SET',
      NAMESPACE + key,
      stamped.trim().replace(`"v-${key}"`, '"theirs"'),
    );
    await sleep(100);
    expect((await get(key!)).body.value).toBe('theirs');
    await inL1(key!, 'theirs');

    // The dead shard's keys are never served as fresh: a marked fallback copy, or a miss
    // (skipped by its breaker, or a failed half-open probe).
    for (const k of deadKeys) {
      const r = await get(k);
      expect([null, deadName]).toContain(r.headers.get('x-circuit-open'));
      if (r.status === 200) expect(r.headers.get('x-cache-stale')).toBe('true');
      else expect(r.status).toBe(404);
    }

    await cluster.restart(dead.port);
    await waitFor(async () => (await put(service, deadKeys[0]!, 'back')).body.stored?.l2 === true, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: `${deadName} serving again`,
    });
    // The restarted master came back empty: nothing of its old keys is served from L1.
    for (const k of deadKeys.slice(1)) expect((await get(k)).status).toBe(404);
  });
});

describe('journal replay per shard', () => {
  it("applies a shard's journaled invalidations within 10 s of it answering, while another shard stays unreachable", async () => {
    const byShard = keysByShard(masters, 'replay', 2);
    const [shardA, shardB] = [...byShard.keys()].sort((a, b) => a - b);
    const a = masterOf(masters, shardA!);
    const b = masterOf(masters, shardB!);
    // Per shard: one key deleted, one overwritten, while the shard cannot be reached.
    const [aDeleted, aOverwritten] = byShard.get(shardA!)!;
    const [bDeleted, bOverwritten] = byShard.get(shardB!)!;
    const keysA = [aDeleted!, aOverwritten!];
    const keysB = [bDeleted!, bOverwritten!];
    for (const key of [...keysA, ...keysB]) {
      expect((await put(service, key, `old-${key}`)).body.stored.l2).toBe(true);
    }
    await waitFor(async () => (await metric(service, 'breakerbox_cache_journal_size')) === 0, {
      timeoutMs: 10_000,
      message: 'an empty journal before the outage',
    });
    const inRedis = async (port: number, key: string): Promise<string> =>
      (await cluster.cli(port, 'GET', NAMESPACE + key)).trim();
    for (const key of keysA) expect(await inRedis(a.port, key)).toContain(`old-${key}`);

    // Both masters stop answering (SIGSTOP: data kept); their breakers open on timeouts.
    cluster.pause(a.port);
    cluster.pause(b.port);
    const names = [`redis_cache:${shardA}`, `redis_cache:${shardB}`];
    try {
      await waitFor(
        async () => {
          await Promise.all([...keysA, ...keysB].map((k) => get(k)));
          const states = await Promise.all(names.map((n) => state(service, n)));
          return states.every((s) => s === 'open');
        },
        { timeoutMs: 15_000, intervalMs: 50, message: `${names.join(', ')} open` },
      );
      // Held open, so that no half-open probe carries one of the writes below to a stopped
      // server, which would run it on SIGCONT and hide a replay that never happened.
      for (const name of names) expect((await admin(service, name, 'open')).status).toBe(200);

      for (const [deleted, overwritten, name] of [
        [aDeleted!, aOverwritten!, names[0]!],
        [bDeleted!, bOverwritten!, names[1]!],
      ] as const) {
        const d = await service.json(`/v1/cache/${deleted}`, { method: 'DELETE' });
        expect(d.body.deleted).toEqual({ l1: true, l2: false });
        expect(d.headers.get('x-circuit-open')).toBe(name);
        const w = await put(service, overwritten, 'new');
        expect(w.body.stored).toEqual({ l1: true, l2: false });
        expect(w.headers.get('x-circuit-open')).toBe(name);
      }
      expect(await metric(service, 'breakerbox_cache_journal_size')).toBe(4);

      // Shard A answers again; B does not. No client traffic from here on.
      cluster.resume(a.port);
      const resumedAt = Date.now();
      await waitFor(
        async () =>
          (await Promise.all(keysA.map((k) => inRedis(a.port, k)))).every((v) => v === ''),
        {
          timeoutMs: 10_000,
          intervalMs: 100,
          message: "shard A's journaled invalidations applied",
        },
      );
      const replayMs = Date.now() - resumedAt;
      expect(replayMs).toBeLessThan(10_000);
      // B's entries are still journaled (its master is still stopped).
      await waitFor(async () => (await metric(service, 'breakerbox_cache_journal_size')) === 2, {
        timeoutMs: 2_000,
        message: "only shard B's entries journaled",
      });
      await sleep(1_500); // more replay rounds: B's entries stay
      expect(await metric(service, 'breakerbox_cache_journal_size')).toBe(2);

      // B answers again: its entries are applied too, still without client traffic.
      cluster.resume(b.port);
      await waitFor(
        async () =>
          (await Promise.all(keysB.map((k) => inRedis(b.port, k)))).every((v) => v === ''),
        {
          timeoutMs: 10_000,
          intervalMs: 100,
          message: "shard B's journaled invalidations applied",
        },
      );
      await waitFor(async () => (await metric(service, 'breakerbox_cache_journal_size')) === 0, {
        timeoutMs: 2_000,
        message: 'an empty journal',
      });
      console.log(`shard A's journal applied ${replayMs} ms after it answered again`);
    } finally {
      cluster.resume(a.port);
      cluster.resume(b.port);
    }

    // Closed again: no old value is ever served.
    expect((await admin(service, 'redis_cache', 'reset')).status).toBe(200);
    await cluster.waitForHealthy();
    for (const key of [...keysA, ...keysB]) {
      const r = await get(key);
      if (r.status === 200) expect(r.body.value).not.toBe(`old-${key}`);
    }
  }, 60_000);
});
