import { RedisCluster, stopAllClusters, waitFor } from '@breakerbox/devkit';
import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeClusterClient,
  clusterClientOptions,
  createClusterClient,
  waitForClusterReady,
  type ClusterClientEvent,
} from './cluster-client.js';

afterAll(async () => {
  await stopAllClusters();
});

/** A key of each shard, by the shard's first slot. */
function keysOnSlots(ranges: ReadonlyArray<readonly [number, number]>, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `k:${i}`;
    const slot = calculateSlot(key);
    if (ranges.some(([a, b]) => a <= slot && slot <= b)) keys.push(key);
  }
  return keys;
}

describe('clusterClientOptions', () => {
  it('is fail-fast: no offline queue, no resend, no delayed retry, no ready check', () => {
    const o = clusterClientOptions({ commandTimeoutMs: 300, password: 'pw' });
    expect(o).toMatchObject({
      enableOfflineQueue: false,
      enableReadyCheck: false,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      slotsRefreshInterval: 2_000,
      slotsRefreshTimeout: 1_000,
      redisOptions: {
        commandTimeout: 300,
        connectTimeout: 1_000,
        socketTimeout: 2_000,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        password: 'pw',
      },
    });
    expect(typeof o.clusterNodeRetryStrategy).toBe('function');
    expect(() => clusterClientOptions({ commandTimeoutMs: 0 })).toThrow(/REDIS_COMMAND_TIMEOUT_MS/);
  });
});

describe('createClusterClient against a real three-master cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  });

  it('finds every master from one seed, spreads keys, and follows MOVED after a reshard', async () => {
    const events: ClusterClientEvent[] = [];
    const client = createClusterClient({
      seeds: [cluster.seeds[0]!],
      commandTimeoutMs: 1_000,
      onEvent: (e) => events.push(e),
    });
    try {
      expect(await waitForClusterReady(client, 10_000)).toBe(true);
      expect(client.nodes('master')).toHaveLength(3);
      expect(events.filter((e) => e.type === 'node_added').length).toBeGreaterThanOrEqual(3);
      expect(events.some((e) => e.type === 'refresh')).toBe(true);
      for (let i = 0; i < 100; i++) await client.set(`spread:${i}`, String(i));
      const sizes = await Promise.all(
        (await cluster.masters()).map(async (m) => Number(await cluster.cli(m.port, 'dbsize'))),
      );
      expect(sizes.every((n) => n > 0)).toBe(true);

      // Move 5 slots (with their keys) from the first master to the second, behind the
      // client's back: its slot map is now stale, and the owner answers MOVED.
      const [from, to] = await cluster.masters();
      const [key] = keysOnSlots([[from!.slots[0]![0], from!.slots[0]![0] + 4]], 1);
      await client.set(key!, 'moved-value');
      const fromKey = `127.0.0.1:${from!.port}`;
      expect(client.slots[calculateSlot(key!)]?.[0]).toBe(fromKey);
      await cluster.cli(
        from!.port,
        '--cluster',
        'reshard',
        `127.0.0.1:${from!.port}`,
        '--cluster-from',
        from!.id,
        '--cluster-to',
        to!.id,
        '--cluster-slots',
        '5',
        '--cluster-yes',
      );
      await cluster.waitForHealthy();
      expect(await client.get(key!)).toBe('moved-value');
      await waitFor(() => client.slots[calculateSlot(key!)]?.[0] === `127.0.0.1:${to!.port}`, {
        timeoutMs: 10_000,
        message: 'the slot map names the new owner',
      });
    } finally {
      await closeClusterClient(client);
    }
  });

  it("fails a killed master's keys fast while the other shards answer, and recovers on restart", async () => {
    const events: ClusterClientEvent[] = [];
    const commandTimeoutMs = 3_000;
    const client = createClusterClient({
      seeds: cluster.seeds,
      commandTimeoutMs,
      onEvent: (e) => events.push(e),
    });
    try {
      expect(await waitForClusterReady(client, 10_000)).toBe(true);
      const masters = await cluster.masters();
      const victim = masters[masters.length - 1]!;
      const deadKeys = keysOnSlots(victim.slots, 20);
      const liveKeys = keysOnSlots(
        masters.filter((m) => m !== victim).flatMap((m) => m.slots),
        20,
      );
      for (const key of [...deadKeys, ...liveKeys]) await client.set(key, 'v');

      await cluster.kill(victim.port);
      const victimKey = `127.0.0.1:${victim.port}`;
      await waitFor(() => events.some((e) => e.type === 'node_close' && e.node === victimKey), {
        timeoutMs: 10_000,
        message: 'node_close of the killed master',
      });

      let slowest = 0;
      for (const key of deadKeys) {
        const start = Date.now();
        await expect(client.get(key)).rejects.toThrow();
        slowest = Math.max(slowest, Date.now() - start);
      }
      // Failed without waiting for the command deadline (a generous bound, not a speed test).
      expect(slowest).toBeLessThan(commandTimeoutMs);
      for (const key of liveKeys) expect(await client.get(key)).toBe('v');

      events.length = 0;
      await cluster.restart(victim.port);
      // Restarted empty (no persistence): its keys answer again, as misses.
      const value = await waitFor(
        () =>
          client.get(deadKeys[0]!).then(
            (v) => ({ v }),
            () => undefined,
          ),
        { timeoutMs: 15_000, intervalMs: 100, message: "the restarted master's keys answer" },
      );
      expect(value?.v).toBeNull();
      expect(events.some((e) => e.type === 'node_ready' && e.node === victimKey)).toBe(true);
    } finally {
      await closeClusterClient(client);
    }
  });

  it('never throws on construction and reports errors with credentials scrubbed', async () => {
    const events: ClusterClientEvent[] = [];
    const client = createClusterClient({
      seeds: ['127.0.0.1:1'],
      password: 'hunter2-very-secret',
      commandTimeoutMs: 200,
      reconnectMaxMs: 200,
      onEvent: (e) => events.push(e),
    });
    try {
      await expect(client.get('x')).rejects.toThrow();
      await waitFor(() => events.some((e) => e.type === 'error' || e.type === 'node_error'), {
        timeoutMs: 10_000,
        message: 'an error event',
      });
      expect(JSON.stringify(events)).not.toContain('hunter2');
    } finally {
      await closeClusterClient(client);
    }
  });
});
