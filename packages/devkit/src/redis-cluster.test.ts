import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLUSTER_SLOTS,
  RedisCluster,
  parseClusterNodes,
  stopAllClusters,
} from './redis-cluster.js';
import { waitFor } from './wait.js';

afterAll(async () => {
  await stopAllClusters();
});

function client(cluster: RedisCluster): Cluster {
  const c = new Cluster(
    cluster.seeds.map((seed) => {
      const [host, port] = seed.split(':');
      return { host: host!, port: Number(port) };
    }),
    { slotsRefreshInterval: 500, redisOptions: { commandTimeout: 2_000 } },
  );
  c.on('error', () => {});
  c.on('node error', () => {});
  return c;
}

describe('parseClusterNodes', () => {
  it('reads ids, roles, slot ranges and failure flags, skipping migration markers', () => {
    const text = [
      'aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [5461->-bbb]',
      'bbb 127.0.0.1:7002@17002 master,fail - 0 0 2 disconnected 5461-10922 16000',
      'ccc 127.0.0.1:7003@17003 slave aaa 0 0 1 connected',
      '',
    ].join('\n');
    const nodes = parseClusterNodes(text);
    expect(nodes.map((n) => [n.id, n.port, n.role, n.failing])).toEqual([
      ['aaa', 7001, 'master', false],
      ['bbb', 7002, 'master', true],
      ['ccc', 7003, 'replica', false],
    ]);
    expect(nodes[0]!.slots).toEqual([[0, 5460]]);
    expect(nodes[1]!.slots).toEqual([
      [5461, 10922],
      [16000, 16000],
    ]);
    expect(nodes[2]!.masterId).toBe('aaa');
  });
});

describe('RedisCluster', () => {
  it('forms a three-master cluster that covers every slot, and keys land on every master', async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    expect(cluster.seeds).toHaveLength(3);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const covered = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(covered).toBe(CLUSTER_SLOTS);

    const redis = client(cluster);
    try {
      for (let i = 0; i < 300; i++) await redis.set(`key:${i}`, String(i));
      expect(await redis.get('key:42')).toBe('42');
      const perMaster = await Promise.all(
        masters.map(async (m) => Number(await cluster.cli(m.port, 'dbsize'))),
      );
      expect(perMaster.every((n) => n > 0)).toBe(true);
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(300);
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  });

  it('with one replica per master, survives SIGKILL of a master by failover, and the old master rejoins', async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    const redis = client(cluster);
    try {
      expect((await cluster.nodes()).filter((n) => n.role === 'replica')).toHaveLength(3);
      const [victim] = await cluster.masters();
      const firstSlot = victim!.slots[0]![0];
      // A key on the victim's shard: find one by asking the server for its slot.
      let key = '';
      for (let i = 0; ; i++) {
        const slot = await redis.cluster('KEYSLOT', `k${i}`);
        if (victim!.slots.some(([a, b]) => a <= slot && slot <= b)) {
          key = `k${i}`;
          break;
        }
      }
      await redis.set(key, 'before');
      await waitFor(
        async () => {
          const replica = (await cluster.nodes()).find((n) => n.masterId === victim!.id);
          return (
            replica !== undefined && (await cluster.cli(replica.port, 'dbsize')).trim() === '1'
          );
        },
        { timeoutMs: 10_000, message: 'the write replicated' },
      );

      await cluster.kill(victim!.port);
      const promoted = await cluster.waitForFailover(victim!.port);
      expect(promoted.port).not.toBe(victim!.port);
      expect(promoted.slots.some(([a]) => a === firstSlot)).toBe(true);
      // The client finds the promoted replica (slot refresh) and the data survived.
      const value = await waitFor(() => redis.get(key).catch(() => undefined), {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: 'the key served by the promoted replica',
      });
      expect(value).toBe('before');

      await cluster.restart(victim!.port);
      const back = (await cluster.nodes()).find((n) => n.port === victim!.port);
      expect(back?.role).toBe('replica');
      expect(back?.masterId).toBe(promoted.id);
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  });

  it('restarts a master without a replica on the same port, and it takes its slots back', async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    try {
      const [victim] = await cluster.masters();
      await cluster.kill(victim!.port);
      await cluster.restart(victim!.port);
      const back = (await cluster.masters()).find((n) => n.port === victim!.port);
      expect(back?.id).toBe(victim!.id);
      expect(back?.slots).toEqual(victim!.slots);
    } finally {
      await cluster.stop();
    }
  });
});
