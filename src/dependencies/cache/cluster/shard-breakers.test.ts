import { EventEmitter } from 'node:events';
import { RedisCluster, stopAllClusters, waitFor } from '@breakerbox/devkit';
import { BreakerRegistry, CircuitBreaker, FakeClock, type CircuitState } from 'breakerbox';
import calculateSlot from 'cluster-key-slot';
import { afterAll, describe, expect, it } from 'vitest';
import { breakerFactory } from '../../../composition/service-breakers.js';
import type { BreakerSettings } from '../../../config/config.js';
import { closeClusterClient, createClusterClient, waitForClusterReady } from './cluster-client.js';
import {
  CLUSTER_SLOT_COUNT,
  ShardBreakers,
  mirrorRollUp,
  rollUpShardStates,
  shardIdOf,
  shardsOfSlotMap,
  type ShardMapChange,
  type SlotMapSource,
} from './shard-breakers.js';

afterAll(async () => {
  await stopAllClusters();
});

const SETTINGS: BreakerSettings = {
  failureThreshold: 2,
  recoveryTimeoutMs: 30_000,
  halfOpenMaxCalls: 1,
};

/** A slot map as ioredis holds it, from [first, last, nodes] ranges; refresh() as ioredis does. */
class SlotTable extends EventEmitter implements SlotMapSource {
  slots: string[][] = [];
  set(ranges: Array<[number, number, string[]]>): void {
    this.slots = [];
    for (const [first, last, nodes] of ranges) {
      for (let s = first; s <= last; s++) this.slots[s] = nodes;
    }
    this.emit('refresh');
  }
}

const THREE: Array<[number, number, string[]]> = [
  [0, 5460, ['a:1', 'a2:1']],
  [5461, 10922, ['b:1', 'b2:1']],
  [10923, 16383, ['c:1', 'c2:1']],
];

function setup() {
  const clock = new FakeClock();
  const registry = new BreakerRegistry();
  const factory = breakerFactory({ criticalCircuits: ['redis_cache'] }, registry, clock);
  const table = new SlotTable();
  const changes: ShardMapChange[] = [];
  const shards = new ShardBreakers({ cluster: table, factory, settings: SETTINGS });
  shards.onMapChange((c) => changes.push(c));
  return { clock, registry, factory, table, shards, changes };
}

function keyOnSlot(predicate: (slot: number) => boolean, salt = ''): string {
  for (let i = 0; ; i++) {
    const key = `key${salt}:${i}`;
    if (predicate(calculateSlot(key))) return key;
  }
}

function trip(breaker: CircuitBreaker): void {
  for (let i = 0; i < SETTINGS.failureThreshold; i++)
    breaker.tryAcquire()?.failure(new Error('down'));
}

describe('shardsOfSlotMap and shardIdOf', () => {
  it('groups slots by master, with the lowest slot as id and every range kept', () => {
    const slots: string[][] = [];
    for (let s = 0; s < 100; s++) slots[s] = ['b:1'];
    for (let s = 100; s < 8000; s++) slots[s] = ['a:1', 'a2:1'];
    for (let s = 8000; s < CLUSTER_SLOT_COUNT; s++) slots[s] = ['b:1', 'b2:1'];
    expect(shardsOfSlotMap(slots)).toEqual([
      {
        id: 0,
        ranges: [
          [0, 99],
          [8000, 16383],
        ],
        slotCount: 100 + 16384 - 8000,
        master: 'b:1',
        nodes: ['b:1', 'b2:1'],
      },
      { id: 100, ranges: [[100, 7999]], slotCount: 7900, master: 'a:1', nodes: ['a:1', 'a2:1'] },
    ]);
    expect(shardsOfSlotMap([])).toEqual([]);
  });

  it('reads shard ids back from breaker names', () => {
    expect(shardIdOf('redis_cache:5461')).toBe(5461);
    expect(shardIdOf('redis_cache:0')).toBe(0);
    expect(shardIdOf('redis_cache')).toBeUndefined();
    expect(shardIdOf('redis_cache:16384')).toBeUndefined();
    expect(shardIdOf('redis_cache:x')).toBeUndefined();
    expect(shardIdOf('embedding_service:1')).toBeUndefined();
  });
});

describe('ShardBreakers on a slot map', () => {
  it('has no shard before the first slot map, then one breaker per master, registered by first slot', () => {
    const { registry, table, shards } = setup();
    expect(shards.shards()).toEqual([]);
    expect(shards.breakerFor('anything')).toBeUndefined();
    table.set(THREE);
    expect(registry.list().map((b) => b.name)).toEqual([
      'redis_cache:0',
      'redis_cache:5461',
      'redis_cache:10923',
    ]);
    // Not critical: one shard down must not fail readiness.
    expect(shards.breakers().every((b) => !b.critical)).toBe(true);
    const key = keyOnSlot((s) => s >= 5461 && s <= 10922);
    expect(shards.breakerFor(key)?.name).toBe('redis_cache:5461');
    expect(shards.shardIdFor(key)).toBe(5461);
    expect(shards.breakerForSlot(16383)?.name).toBe('redis_cache:10923');
    // {hash tags} route as Redis routes them.
    expect(shards.breakerFor('{user1}.a')).toBe(shards.breakerFor('{user1}.b'));
  });

  it('keeps a shard breaker, with its state, through a failover to its replica', () => {
    const { table, shards, changes } = setup();
    table.set(THREE);
    const before = shards.shard(0)!.breaker;
    trip(before);
    expect(before.state).toBe('open');
    changes.length = 0;
    table.set([[0, 5460, ['a2:1']], THREE[1]!, THREE[2]!]); // a died, a2 promoted
    expect(shards.shard(0)!.breaker).toBe(before);
    expect(shards.shard(0)!.master).toBe('a2:1');
    expect(before.state).toBe('open');
    expect(changes).toHaveLength(1);
    expect(changes[0]!.retired).toEqual([]);
    expect(changes[0]!.added).toEqual([]);
    expect(changes[0]!.changed.map((s) => s.name)).toEqual(['redis_cache:0']);
    // A refresh that changes nothing is no change.
    table.set([[0, 5460, ['a2:1']], THREE[1]!, THREE[2]!]);
    expect(changes).toHaveLength(1);
  });

  it('retires breakers whose shard is gone, and never hands an id to another group with old state', () => {
    const { registry, table, shards, changes } = setup();
    table.set(THREE);
    const zero = shards.shard(0)!.breaker;
    const b = shards.shard(5461)!.breaker;
    trip(zero);
    changes.length = 0;
    // Reshard: slots 0-99 move from a to b. b's lowest slot is now 0, a's is 100.
    table.set([[0, 99, ['b:1', 'b2:1']], [100, 5460, ['a:1', 'a2:1']], THREE[1]!, THREE[2]!]);
    expect(
      registry
        .list()
        .map((x) => x.name)
        .sort(),
    ).toEqual(['redis_cache:0', 'redis_cache:100', 'redis_cache:10923']);
    const newZero = shards.shard(0)!.breaker;
    expect(newZero).not.toBe(zero);
    expect(newZero.state).toBe('closed'); // a's open state did not move to b
    expect(registry.get('redis_cache:0')).toBe(newZero);
    expect(registry.get('redis_cache:5461')).toBeUndefined();
    expect(b.name).toBe('redis_cache:5461');
    expect(changes[0]!.retired.map((r) => r.name).sort()).toEqual([
      'redis_cache:0',
      'redis_cache:5461',
    ]);
    expect(changes[0]!.added.map((s) => s.name).sort()).toEqual([
      'redis_cache:0',
      'redis_cache:100',
    ]);
    expect(shards.breakerForSlot(50)).toBe(newZero);
    expect(shards.breakerForSlot(7000)).toBe(newZero);
    expect(shards.breakerForSlot(100)?.name).toBe('redis_cache:100');

    // A master removed (its slots given to c): its breaker leaves the registry.
    table.set([
      [0, 99, ['b:1']],
      [100, 5460, ['c:1']],
      [5461, 10922, ['b:1']],
      [10923, 16383, ['c:1']],
    ]);
    expect(
      registry
        .list()
        .map((x) => x.name)
        .sort(),
    ).toEqual(['redis_cache:0', 'redis_cache:100']);
    expect(shards.shard(100)!.master).toBe('c:1');

    // A reshard onto a new, empty master is not a failover: the old master keeps slots.
    const zeroNow = shards.shard(0)!.breaker;
    trip(zeroNow);
    table.set([
      [0, 49, ['e:1']],
      [50, 99, ['b:1']],
      [100, 5460, ['c:1']],
      [5461, 10922, ['b:1']],
      [10923, 16383, ['c:1']],
    ]);
    expect(shards.shard(0)!.master).toBe('e:1');
    expect(shards.shard(0)!.breaker).not.toBe(zeroNow);
    expect(shards.shard(0)!.breaker.state).toBe('closed');
    expect(shards.shard(50)!.master).toBe('b:1');

    shards.dispose();
    expect(registry.size).toBe(0);
    expect(shards.breakerFor('x')).toBeUndefined();
  });
});

describe('the redis_cache roll-up', () => {
  const states = (...s: CircuitState[]) =>
    s.map((state, i) => ({ name: `redis_cache:${i}`, state }));

  it.each([
    [[], 'open', 'no slot map'],
    [['closed', 'closed', 'closed'], 'closed', 'all 3 shards closed'],
    [['closed', 'open', 'closed'], 'closed', '1 of 3 shards not closed: redis_cache:1'],
    [['open', 'half_open', 'closed'], 'closed', '2 of 3 shards not closed'],
    [['open', 'half_open', 'open'], 'half_open', 'probing redis_cache:1'],
    [['open', 'open', 'open'], 'open', 'all 3 shards open'],
  ] as Array<[CircuitState[], CircuitState, string]>)(
    '%j rolls up to %s',
    (shardStates, expected, reason) => {
      const r = rollUpShardStates(states(...shardStates));
      expect(r.state).toBe(expected);
      expect(r.reason).toContain(reason);
    },
  );

  it('drives a registered redis_cache breaker: open only while every shard is open', () => {
    const { clock, registry, factory, table, shards } = setup();
    const parent = factory('redis_cache', SETTINGS);
    table.set(THREE);
    const mirror = mirrorRollUp(parent, shards);
    expect(parent.state).toBe('closed');
    expect(parent.critical).toBe(true);

    const [a, b, c] = shards.breakers() as [CircuitBreaker, CircuitBreaker, CircuitBreaker];
    trip(a);
    trip(b);
    expect(parent.state).toBe('closed');
    expect(mirror.current.reason).toContain('2 of 3');
    trip(c);
    expect(parent.state).toBe('open');
    expect(registry.criticalOpen()).toEqual(['redis_cache']);

    clock.advance(SETTINGS.recoveryTimeoutMs);
    const probe = a.tryAcquire()!;
    expect(a.state).toBe('half_open');
    expect(mirror.current.state).toBe('half_open');
    expect(parent.state).toBe('open');
    probe.success();
    expect(a.state).toBe('closed');
    expect(parent.state).toBe('closed');
    expect(parent.mode).toBe('normal');

    // A new shard breaker after a slot-map change is followed too.
    trip(b);
    trip(c);
    table.set([[0, 99, ['d:1']], [100, 5460, ['a:1', 'a2:1']], THREE[1]!, THREE[2]!]);
    trip(shards.shard(0)!.breaker); // d's fresh breaker
    expect(parent.state).toBe('closed'); // a (now redis_cache:100, fresh) is closed
    trip(shards.shard(100)!.breaker);
    expect(parent.state).toBe('open');

    // An operator's manual open of the parent is not undone by the mirror.
    shards.resetAll();
    expect(parent.state).toBe('closed');
    parent.isolate();
    trip(shards.shard(0)!.breaker);
    shards.shard(0)!.breaker.reset();
    expect(parent.mode).toBe('isolated');
    mirror.dispose();
  });
});

describe('ShardBreakers on a real cluster with one replica per master', () => {
  it("opens only the dead master's breaker, and the same breaker closes under the promoted replica", async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
    const clock = new FakeClock();
    const registry = new BreakerRegistry();
    const factory = breakerFactory({ criticalCircuits: [] }, registry, clock);
    const client = createClusterClient({
      seeds: cluster.seeds,
      commandTimeoutMs: 1_000,
      slotsRefreshIntervalMs: 500,
    });
    const shards = new ShardBreakers({ cluster: client, factory, settings: SETTINGS });
    const changes: ShardMapChange[] = [];
    shards.onMapChange((c) => changes.push(c));
    try {
      expect(await waitForClusterReady(client, 15_000)).toBe(true);
      const masters = await cluster.masters();
      expect(shards.shards().map((s) => s.id)).toEqual(masters.map((m) => m.slots[0]![0]));
      expect(registry.list().map((b) => b.name)).toEqual(
        masters.map((m) => `redis_cache:${m.slots[0]![0]}`),
      );

      const victim = masters[1]!;
      const victimId = victim.slots[0]![0];
      const inVictim = (s: number) => victim.slots.some(([a, b]) => a <= s && s <= b);
      const deadKey = keyOnSlot(inVictim);
      const liveKeys = [
        keyOnSlot((s) => !inVictim(s) && s < victimId),
        keyOnSlot((s) => !inVictim(s) && s > victimId),
      ];
      const guarded = (key: string) => shards.breakerFor(key)!.execute(() => client.get(key));
      for (const key of [deadKey, ...liveKeys]) await client.set(key, key);
      const victimBreaker = shards.breakerFor(deadKey)!;
      expect(victimBreaker.name).toBe(`redis_cache:${victimId}`);

      // Right after start-up a node may not list the replica yet: wait until one does.
      const replica = (await waitFor(
        async () => (await cluster.nodes()).find((n) => n.masterId === victim.id),
        { timeoutMs: 10_000, message: 'the replica of the victim known' },
      ))!;
      await waitFor(async () => Number(await cluster.cli(replica.port, 'dbsize')) >= 1, {
        timeoutMs: 10_000,
        message: 'the write replicated',
      });
      await cluster.kill(victim.port);
      for (let i = 0; i < SETTINGS.failureThreshold; i++)
        await expect(guarded(deadKey)).rejects.toThrow();
      expect(victimBreaker.state).toBe('open');
      await expect(guarded(deadKey)).rejects.toThrow(/open/i);
      for (const key of liveKeys) expect(await guarded(key)).toBe(key);
      expect(
        shards
          .breakers()
          .filter((b) => b.state !== 'closed')
          .map((b) => b.name),
      ).toEqual([victimBreaker.name]);
      expect(shards.rollUp()).toMatchObject({ state: 'closed', open: [victimBreaker.name] });

      const promoted = await cluster.waitForFailover(victim.port);
      const promotedKey = `127.0.0.1:${promoted.port}`;
      await waitFor(() => shards.shard(victimId)?.master === promotedKey, {
        timeoutMs: 20_000,
        intervalMs: 50,
        message: 'the slot map names the promoted replica',
      });
      expect(shards.shard(victimId)!.breaker).toBe(victimBreaker);
      expect(changes.some((c) => c.changed.some((s) => s.id === victimId))).toBe(true);
      expect(changes.flatMap((c) => c.retired)).toEqual([]);

      clock.advance(SETTINGS.recoveryTimeoutMs);
      const value = await waitFor(
        () =>
          guarded(deadKey).then(
            (v) => ({ v }),
            () => {
              clock.advance(SETTINGS.recoveryTimeoutMs * 2); // let the next probe through
              return undefined;
            },
          ),
        { timeoutMs: 20_000, intervalMs: 100, message: 'a probe through the promoted replica' },
      );
      expect(value?.v).toBe(deadKey); // replicated before the kill
      expect(victimBreaker.state).toBe('closed');
      expect(shards.rollUp().state).toBe('closed');
    } finally {
      shards.dispose();
      await closeClusterClient(client);
      await cluster.stop();
    }
  });
});
