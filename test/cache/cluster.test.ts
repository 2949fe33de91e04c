import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisCluster,
  ServiceProcess,
  stopAllClusters,
  stopAllServices,
  waitFor,
  type ClusterNodeInfo,
} from '@breakerbox/devkit';
import {
  NAMESPACE,
  clusterEnv as env,
  keysByShard,
  masterOf,
  put,
  serving,
  shardNames,
  shardOf,
  state,
} from './cluster-service.js';

// The service (node dist/main.js) on a real three-master Redis Cluster (REDIS_CLUSTER_NODES):
// one `redis_cache:<shard>` breaker per shard, a SIGKILLed master opens only its own, and a
// failover to a promoted replica closes it again without a restart of the service.

afterAll(async () => {
  await stopAllServices();
  await stopAllClusters();
});

describe('the cache on a three-master Redis Cluster', () => {
  let cluster: RedisCluster;
  let service: ServiceProcess;
  let masters: ClusterNodeInfo[];

  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
    masters = await cluster.masters();
    service = await ServiceProcess.start(env(cluster));
    await serving(service, masters);
  }, 60_000);

  it('one breaker per shard, keys spread across masters, every cache route works', async () => {
    const ids = masters.map((m) => Math.min(...m.slots.map(([a]) => a))).sort((a, b) => a - b);
    expect(await shardNames(service)).toEqual(ids.map((id) => `redis_cache:${id}`).sort());
    expect(await state(service, 'redis_cache')).toBe('closed');

    const keys = [...keysByShard(masters, 'route', 4).values()].flat();
    for (const key of keys) {
      const r = await put(service, key, { key, n: 1 });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ key, stored: { l1: true, l2: true } });
    }
    // Spread: every master holds some of them.
    for (const m of masters) {
      const size = Number(await cluster.cli(m.port, 'DBSIZE'));
      expect(size).toBeGreaterThan(0);
    }
    for (const key of keys) {
      const r = await service.json(`/v1/cache/${key}`);
      expect(r.status).toBe(200);
      expect(r.body.value).toEqual({ key, n: 1 });
      expect(['l1', 'l2']).toContain(r.body.source);
    }
    for (const key of keys) {
      const r = await service.json(`/v1/cache/${key}`, { method: 'DELETE' });
      expect(r.body).toEqual({ key, deleted: { l1: true, l2: true } });
      expect((await service.json(`/v1/cache/${key}`)).status).toBe(404);
    }
    // A value written on the cluster by another writer is seen (an L2 hit, then L1).
    const [key] = keys;
    await put(service, key!, 'mine');
    const owner = masterOf(masters, shardOf(masters, key!));
    const stamped = await cluster.cli(owner.port, 'GET', NAMESPACE + key);
    await cluster.cli(
      owner.port,
      'SET',
      NAMESPACE + key,
      stamped.trim().replace('"mine"', '"theirs"'),
    );
    await waitFor(async () => (await service.json(`/v1/cache/${key}`)).body.value === 'theirs', {
      timeoutMs: 5_000,
      message: 'the invalidation of a key written by another client',
    });
    const health = await service.json('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('healthy');
  });

  it('SIGKILL one master: only its breaker opens, other shards keep Redis, then it recovers', async () => {
    const byShard = keysByShard(masters, 'kill', 6);
    const [deadShard, ...liveShards] = [...byShard.keys()].sort((a, b) => a - b);
    const dead = masterOf(masters, deadShard!);
    const deadKeys = byShard.get(deadShard!)!;
    for (const key of [...byShard.values()].flat()) {
      expect((await put(service, key, `v-${key}`)).body.stored.l2).toBe(true);
    }
    const statuses: number[] = [];

    await cluster.kill(dead.port);
    const deadName = `redis_cache:${deadShard}`;
    await waitFor(
      async () => {
        for (const key of deadKeys) statuses.push((await service.json(`/v1/cache/${key}`)).status);
        return (await state(service, deadName)) === 'open';
      },
      { timeoutMs: 15_000, intervalMs: 50, message: `${deadName} open` },
    );
    for (const shard of liveShards)
      expect(await state(service, `redis_cache:${shard}`)).toBe('closed');
    expect(await state(service, 'redis_cache')).toBe('closed');

    // Healthy shards: writes reach Redis, reads answer the new value from Redis or from L1
    // (their L1 copies stay trusted while another master is down: cluster-shards.test.ts).
    for (const shard of liveShards) {
      for (const key of byShard.get(shard)!) {
        const w = await put(service, key, `w-${key}`);
        statuses.push(w.status);
        expect(w.body.stored).toEqual({ l1: true, l2: true });
        expect(w.headers.get('x-circuit-open')).toBeNull();
        const r = await service.json(`/v1/cache/${key}`);
        statuses.push(r.status);
        expect(r.body).toMatchObject({ key, value: `w-${key}` });
        expect(['l1', 'l2']).toContain(r.body.source);
        expect(r.headers.get('x-cache-stale')).toBeNull();
      }
    }
    // The dead shard: answered without Redis, naming the shard breaker that was skipped.
    for (const key of deadKeys) {
      const r = await service.json(`/v1/cache/${key}`);
      statuses.push(r.status);
      expect(r.headers.get('x-circuit-open')).toBe(deadName);
      if (r.status === 200) expect(r.body.source).toBe('l1');
      else expect(r.status).toBe(404);
      const w = await put(service, key, 'while-down');
      statuses.push(w.status);
      expect(w.body.stored).toEqual({ l1: true, l2: false });
      expect(w.headers.get('x-circuit-open')).toBe(deadName);
    }
    const health = await service.json('/health');
    expect(health.body.status).toBe('degraded');
    const redis = health.body.dependencies.redis;
    expect(redis.status).toBe('degraded');
    expect(redis.reason).toContain(deadName);
    expect(redis.shards[deadName]).toMatchObject({ status: 'down', state: 'open' });
    for (const shard of liveShards) {
      expect(redis.shards[`redis_cache:${shard}`]).toMatchObject({ status: 'up', state: 'closed' });
    }
    expect((await service.fetch('/health/ready')).status).toBe(200);
    // Operators see the shards as children of redis_cache: in the breaker list and the
    // dashboard feed, the parent counts them and names the one not closed.
    const list = (await service.json('/v1/circuit-breakers')).body;
    expect(list['redis_cache'].shards).toMatchObject({
      total: 3,
      closed: 2,
      not_closed: [deadName],
      state: 'closed',
    });
    for (const shard of [deadShard!, ...liveShards]) {
      expect(list[`redis_cache:${shard}`]).toMatchObject({ parent: 'redis_cache', shard });
    }
    const feed = (await service.json('/dashboard/data')).body as {
      breakers: Array<{ name: string; parent?: string; shards?: { not_closed: string[] } }>;
    };
    expect(feed.breakers.find((b) => b.name === 'redis_cache')!.shards!.not_closed).toEqual([
      deadName,
    ]);
    expect(feed.breakers.filter((b) => b.parent === 'redis_cache')).toHaveLength(3);

    await cluster.restart(dead.port);
    const [probe] = deadKeys;
    await waitFor(
      async () => {
        const w = await put(service, probe!, 'back');
        statuses.push(w.status);
        return w.body.stored?.l2 === true;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: `${deadName} serving again` },
    );
    await waitFor(async () => (await state(service, deadName)) === 'closed', {
      timeoutMs: 5_000,
      message: `${deadName} closed`,
    });
    const r = await service.json(`/v1/cache/${probe}`);
    expect(r.body).toMatchObject({ key: probe, value: 'back' });
    // The writes made while the master was down were journaled and replayed (it came back
    // empty anyway): none of them is served from Redis.
    for (const key of deadKeys.slice(1)) {
      const g = await service.json(`/v1/cache/${key}`);
      statuses.push(g.status);
      expect(g.headers.get('x-circuit-open')).toBeNull();
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });

  it('an admin action on redis_cache applies to every shard breaker', async () => {
    const admin = (action: string) =>
      service.json(`/admin/circuit-breakers/redis_cache/${action}`, {
        method: 'POST',
        headers: { authorization: 'Bearer cluster-test-token' },
      });
    expect((await admin('open')).status).toBe(200);
    for (const name of await shardNames(service)) expect(await state(service, name)).toBe('open');
    const [key] = [...keysByShard(masters, 'admin', 1).values()][0]!;
    const w = await put(service, key!, 'x');
    expect(w.body.stored.l2).toBe(false);
    expect(w.headers.get('x-circuit-open')).toMatch(/^redis_cache:\d+$/);
    expect((await admin('reset')).status).toBe(200);
    for (const name of await shardNames(service)) expect(await state(service, name)).toBe('closed');
    expect(await state(service, 'redis_cache')).toBe('closed');
    await waitFor(async () => (await put(service, key!, 'y')).body.stored.l2 === true, {
      timeoutMs: 5_000,
      message: 'writes reach Redis after the reset',
    });
  });
});

describe('the cache on a cluster with one replica per master', () => {
  it('after a failover the shard breaker closes under the promoted replica, no restart', async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    const masters = await cluster.masters();
    const service = await ServiceProcess.start(env(cluster));
    await serving(service, masters);
    const byShard = keysByShard(masters, 'failover', 3);
    const shard = [...byShard.keys()].sort((a, b) => a - b)[1]!;
    const name = `redis_cache:${shard}`;
    const old = masterOf(masters, shard);
    const keys = byShard.get(shard)!;
    const statuses: number[] = [];

    await cluster.kill(old.port);
    // Traffic while the shard has no master: its breaker opens.
    await waitFor(
      async () => {
        for (const key of keys) statuses.push((await service.json(`/v1/cache/${key}`)).status);
        return (await state(service, name)) === 'open';
      },
      { timeoutMs: 15_000, intervalMs: 50, message: `${name} open` },
    );
    const promoted = await cluster.waitForFailover(old.port);
    expect(promoted.port).not.toBe(old.port);
    await waitFor(
      async () => {
        const w = await put(service, keys[0]!, 'after-failover');
        statuses.push(w.status);
        return w.body.stored?.l2 === true;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: `${name} serving on the promoted replica` },
    );
    await waitFor(async () => (await state(service, name)) === 'closed', {
      timeoutMs: 5_000,
      message: `${name} closed`,
    });
    // Same breaker name (the shard id survived), the key lives on the promoted replica.
    expect(await shardNames(service)).toContain(name);
    const stored = await cluster.cli(promoted.port, 'GET', NAMESPACE + keys[0]);
    expect(stored).toContain('after-failover');
    expect((await service.json(`/v1/cache/${keys[0]}`)).body.value).toBe('after-failover');
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  }, 90_000);
});
