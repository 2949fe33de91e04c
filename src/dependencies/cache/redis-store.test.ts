import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess, stopAllRedis, waitFor } from '@breakerbox/devkit';
import { CircuitBreaker, CircuitState, FakeClock } from 'breakerbox';
import { closeRedisClient, createRedisClient, waitForRedisReady } from './redis-client.js';
import { RedisStore } from './redis-store.js';

let redis: RedisProcess;
let direct: Redis;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  redis = await RedisProcess.start();
  direct = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true });
  await direct.connect();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await direct.flushall();
  await direct.config('RESETSTAT');
});

afterAll(async () => {
  direct.disconnect();
  await stopAllRedis();
});

async function setup(options: { maxPendingInvalidations?: number; url?: string } = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({
    name: 'redis_cache',
    failureThreshold: 3,
    recoveryTimeout: 1_000,
    halfOpenMaxCalls: 1,
    registry: null,
    clock,
  });
  const client = createRedisClient({
    url: options.url ?? redis.url,
    commandTimeoutMs: 200,
    reconnectBaseMs: 5,
    reconnectMaxMs: 20,
  });
  if (options.url === undefined) expect(await waitForRedisReady(client, 2_000)).toBe(true);
  const store = new RedisStore({ client, breaker, ...options });
  cleanups.push(async () => {
    await store.close();
    breaker.dispose();
  });
  return { clock, breaker, client, store };
}

/** Script calls Redis has executed since the last RESETSTAT. */
async function scriptCalls(): Promise<number> {
  const info = await direct.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) total += Number(m[1]);
  return total;
}

describe('RedisStore', () => {
  it('stores JSON under the namespace with a PX TTL, reads it back, deletes it', async () => {
    const { store, breaker } = await setup();
    expect(await store.set('user:1', { name: 'Ada', n: [1, 2] }, 60_000)).toEqual({ status: 'ok' });
    expect(await direct.get('bb:v1:g0:user:1')).toBe('{"name":"Ada","n":[1,2]}');
    const ttl = await direct.pttl('bb:v1:g0:user:1');
    expect(ttl).toBeGreaterThan(59_000);
    const hit = await store.get('user:1');
    expect(hit).toMatchObject({ status: 'hit', value: { name: 'Ada', n: [1, 2] } });
    expect(hit.status === 'hit' && hit.ttlMs).toBeGreaterThan(59_000);
    expect(await store.delete('user:1')).toEqual({ status: 'ok' });
    expect(await direct.exists('bb:v1:g0:user:1')).toBe(0);
    expect(breaker.metrics().calls).toMatchObject({ success: 3, failure: 0 });
  });

  it('a miss is a success', async () => {
    const { store, breaker } = await setup();
    expect(await store.get('nothing')).toEqual({ status: 'miss' });
    expect(breaker.metrics().calls).toMatchObject({ success: 1, failure: 0 });
  });

  it('stores JSON null and falsy values as hits', async () => {
    const { store } = await setup();
    await store.set('n', null, 1_000);
    await store.set('z', 0, 1_000);
    expect(await store.get('n')).toMatchObject({ status: 'hit', value: null });
    expect(await store.get('z')).toMatchObject({ status: 'hit', value: 0 });
  });

  it('rejects bad input without touching Redis', async () => {
    const { store } = await setup();
    await expect(store.setJson('k', '1', 0)).rejects.toThrow(RangeError);
    await expect(store.set('k', () => 1, 1_000)).rejects.toThrow(TypeError);
    expect(await scriptCalls()).toBe(0);
  });

  it('never serves a value that is not its JSON', async () => {
    const { store } = await setup();
    await direct.set('bb:v1:g0:bad', 'not json{');
    expect(await store.get('bad')).toEqual({ status: 'miss' });
  });

  it('falls back to EVAL when Redis lost its script cache', async () => {
    const { store } = await setup();
    await store.set('k', 1, 10_000);
    await direct.script('FLUSH');
    expect(await store.get('k')).toMatchObject({ status: 'hit', value: 1 });
  });

  it('while the breaker rejects, does not touch Redis and reports skipped', async () => {
    const { store, breaker } = await setup();
    breaker.isolate();
    const before = await scriptCalls();
    const results = await Promise.all([
      store.get('a'),
      store.set('a', 1, 1_000),
      store.delete('a'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(await scriptCalls()).toBe(before);
    expect(breaker.metrics().calls.rejected).toBe(3);
  });

  it('failures are counted and open the breaker', async () => {
    const { store, breaker } = await setup();
    for (let i = 0; i < 3; i++) {
      // DEBUG SLEEP on another connection blocks the server past the command timeout.
      const sleeping = direct.call('DEBUG', 'SLEEP', '0.3');
      expect((await store.get(`k${i}`)).status).toBe('error');
      await sleeping;
    }
    expect(breaker.state).toBe(CircuitState.Open);
    expect((await store.get('k')).status).toBe('skipped');
  });

  it('a DELETE that could not reach Redis is applied before L2 serves the key again', async () => {
    const { store, breaker } = await setup();
    await store.set('k', 'old', 60_000);
    breaker.isolate();
    expect((await store.delete('k')).status).toBe('skipped');
    expect(store.isPending('k')).toBe(true);
    expect(await direct.get('bb:v1:g0:k')).toBe('"old"'); // Redis never heard of the delete.
    breaker.reset(); // closed: the pending delete is flushed in the background
    await waitFor(() => store.stats().pendingInvalidations === 0);
    expect(await direct.exists('bb:v1:g0:k')).toBe(0);
    expect(await store.get('k')).toEqual({ status: 'miss' });
    expect(store.stats().invalidationsApplied).toBe(1);
  });

  it('a read of a pending key deletes it in the same round trip and reports a miss', async () => {
    const { store, breaker } = await setup();
    await store.set('k', 'old', 60_000);
    breaker.isolate();
    await store.set('k', 'new', 60_000); // overwrite skipped: Redis still has 'old'
    breaker.reset();
    breaker.isolate(); // closed only for an instant: the background flush found it open
    await Promise.resolve();
    expect(store.isPending('k')).toBe(true);
    breaker.reset();
    const read = store.get('k'); // sent before the flush microtask runs
    expect(await read).toEqual({ status: 'miss' });
    expect(await direct.exists('bb:v1:g0:k')).toBe(0);
    expect(store.isPending('k')).toBe(false);
  });

  it('an invalidation made while an operation is in flight survives its success', async () => {
    const { store, breaker } = await setup();
    const inFlight = store.set('k', 'v1', 60_000); // sent now
    breaker.isolate();
    expect((await store.delete('k')).status).toBe('skipped'); // after the set was sent
    expect(await inFlight).toEqual({ status: 'ok' });
    expect(store.isPending('k')).toBe(true); // the set must not clear the later delete
    breaker.reset();
    await waitFor(() => !store.isPending('k'));
    expect(await direct.exists('bb:v1:g0:k')).toBe(0);
  });

  it('beyond the bound, pending invalidations become one generation bump', async () => {
    const { store, breaker } = await setup({ maxPendingInvalidations: 3 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) await store.set(k, k, 60_000);
    breaker.isolate();
    for (const k of ['a', 'b', 'c', 'd']) await store.delete(k);
    expect(store.stats()).toMatchObject({
      pendingInvalidations: 0,
      generationBumpPending: true,
      invalidationOverflows: 1,
    });
    expect(store.isPending('e')).toBe(true); // every key is suspect until the bump lands
    breaker.reset();
    await waitFor(() => !store.stats().generationBumpPending);
    expect(await direct.get('bb:v1:gen')).toBe('1');
    for (const k of ['a', 'b', 'c', 'd', 'e'])
      expect(await store.get(k)).toEqual({ status: 'miss' });
    await store.set('a', 'fresh', 60_000);
    expect(await direct.get('bb:v1:g1:a')).toBe('"fresh"');
    expect(await store.get('a')).toMatchObject({ status: 'hit', value: 'fresh' });
    expect(store.stats().generationBumps).toBe(1);
  });

  it('the generation bump rides on the first operation that reaches Redis', async () => {
    const { store, breaker } = await setup({ maxPendingInvalidations: 1 });
    await store.set('a', 'old', 60_000);
    breaker.isolate();
    await store.delete('a');
    await store.delete('b');
    expect(store.stats().generationBumpPending).toBe(true);
    breaker.reset();
    const read = store.get('a'); // sent before the background flush starts
    expect(await read).toEqual({ status: 'miss' });
    expect(Number(await direct.get('bb:v1:gen'))).toBeGreaterThanOrEqual(1);
    expect(await direct.get('bb:v1:g0:a')).toBe('"old"'); // unreachable, expires by its TTL
    await waitFor(() => !store.stats().generationBumpPending);
  });

  it('fails fast when Redis is unreachable and treats writes as pending', async () => {
    const { store, breaker } = await setup({ url: 'redis://127.0.0.1:1/0' });
    const started = performance.now();
    expect((await store.get('k')).status).toBe('error');
    expect((await store.delete('k')).status).toBe('error');
    expect(performance.now() - started).toBeLessThan(100);
    expect(store.isPending('k')).toBe(true);
    expect(breaker.metrics().calls.failure).toBe(2);
  });

  it('close() quits the client; later calls fail without Redis; idempotent', async () => {
    const { store, client } = await setup();
    await store.close();
    await store.close();
    expect(client.status).toBe('end');
    expect((await store.get('k')).status).toBe('error');
    expect((await store.set('k', 1, 1_000)).status).toBe('error');
    expect((await store.delete('k')).status).toBe('error');
  });

  it('a store that does not own the client leaves it open', async () => {
    const { breaker } = await setup();
    const client = createRedisClient({ url: redis.url });
    const store = new RedisStore({ client, breaker, ownsClient: false, namespace: 'other:' });
    await waitForRedisReady(client, 2_000);
    await store.set('k', 1, 1_000);
    expect(await direct.exists('other:g0:k')).toBe(1);
    await store.close();
    expect(client.status).toBe('ready');
    await closeRedisClient(client);
  });
});
