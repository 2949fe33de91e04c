// GET /v1/circuit-breakers and /health with a Redis Cluster's shard breakers: each shard names
// its parent, the parent counts its shards by state, and everything else is as before.
import { Hono } from 'hono';
import { BreakerRegistry, CircuitBreaker, FakeClock } from 'breakerbox';
import { afterEach, describe, expect, it } from 'vitest';
import type { GroupedSnapshot } from '../../src/http/breaker-groups.js';
import { circuitBreakerRoutes } from '../../src/http/routes/circuit-breakers.js';
import { healthRoutes } from '../../src/http/routes/health.js';
import { clusterBreakers, type ClusterBreakers } from '../support/cluster-breakers.js';

let cluster: ClusterBreakers | undefined;
let embed: CircuitBreaker | undefined;
afterEach(() => {
  cluster?.dispose();
  embed?.dispose();
});

function setup(masters: number) {
  const registry = new BreakerRegistry();
  const clock = new FakeClock();
  cluster = clusterBreakers({ registry, masters, clock });
  embed = new CircuitBreaker({ name: 'embedding_service', registry, clock, critical: true });
  const app = (grouped: boolean): Hono => {
    const groups = grouped ? cluster!.groups : undefined;
    const a = new Hono();
    a.route('/v1/circuit-breakers', circuitBreakerRoutes(registry, groups));
    a.route('/health', healthRoutes({ registry, groups }));
    return a;
  };
  const get = async (
    a: Hono,
    path: string,
  ): Promise<Record<string, GroupedSnapshot> & GroupedSnapshot> => {
    const res = await a.request(path);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, GroupedSnapshot> & GroupedSnapshot;
  };
  return { registry, cluster: cluster, app, get };
}

describe('shard breakers under redis_cache', () => {
  it('lists each shard after its parent, naming it; the parent counts its shards by state', async () => {
    const t = setup(3);
    const [first, second] = t.cluster.list();
    t.cluster.trip(second!);
    const body = await t.get(t.app(true), '/v1/circuit-breakers');
    expect(Object.keys(body)).toEqual([
      'redis_cache',
      'redis_cache:0',
      'redis_cache:5462',
      'redis_cache:10923',
      'embedding_service',
    ]);
    expect(body['redis_cache']!.shards).toEqual({
      total: 3,
      closed: 2,
      open: 1,
      half_open: 0,
      not_closed: ['redis_cache:5462'],
      state: 'closed',
      reason: '1 of 3 shards not closed: redis_cache:5462',
    });
    expect(body['redis_cache:5462']).toMatchObject({
      service: 'redis_cache:5462',
      state: 'open',
      parent: 'redis_cache',
      shard: 5462,
      master: '10.0.0.2:6379',
      slots: 5461,
    });
    expect(body['embedding_service']!.parent).toBeUndefined();
    expect(body['embedding_service']!.shards).toBeUndefined();

    // Backward compatible: every field of the plain snapshot is still there, unchanged.
    const plain = await t.get(t.app(false), '/v1/circuit-breakers');
    expect(Object.keys(plain).sort()).toEqual(Object.keys(body).sort());
    for (const [name, snapshot] of Object.entries(plain)) {
      const { service, state, mode, calls, config, failure_count, critical } = snapshot;
      expect(body[name]).toMatchObject({
        service,
        state,
        mode,
        calls,
        config,
        failure_count,
        critical,
      });
      expect(Object.keys(body[name]!)).toEqual(expect.arrayContaining(Object.keys(snapshot)));
      expect(snapshot.parent).toBeUndefined();
    }

    // One breaker by name, and /health's circuit_breakers, say the same.
    expect(await t.get(t.app(true), `/v1/circuit-breakers/${first!.name}`)).toMatchObject({
      parent: 'redis_cache',
      shard: 0,
    });
    const health = (await t.get(t.app(true), '/health')) as unknown as {
      status: string;
      circuit_breakers: Record<string, GroupedSnapshot>;
    };
    expect(health.status).toBe('degraded');
    expect(health.circuit_breakers['redis_cache']!.shards?.open).toBe(1);
    expect(health.circuit_breakers['redis_cache:0']!.parent).toBe('redis_cache');
  });

  it('with every shard open the roll-up is open, and 16 shards are sorted by id', async () => {
    const t = setup(16);
    for (const b of t.cluster.list()) t.cluster.trip(b);
    const body = await t.get(t.app(true), '/v1/circuit-breakers');
    const shardNames = Object.keys(body).filter((n) => n.startsWith('redis_cache:'));
    expect(shardNames).toHaveLength(16);
    const ids = shardNames.map((n) => body[n]!.shard!);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(body['redis_cache']).toMatchObject({
      state: 'open', // the registry breaker, isolated by the roll-up
      mode: 'isolated',
      shards: { total: 16, closed: 0, open: 16, state: 'open', reason: 'all 16 shards open' },
    });
    expect(body['redis_cache']!.shards!.not_closed).toEqual(shardNames);
  });
});
