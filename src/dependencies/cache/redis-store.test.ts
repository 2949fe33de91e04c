import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisProcess, stopAllRedis, waitFor } from '@breakerbox/devkit';
import { CircuitBreaker, CircuitState, FakeClock } from 'breakerbox';
import { closeRedisClient, createRedisClient, waitForRedisReady } from './redis-client.js';
import { InvalidationJournal, JournalFullError } from './journal.js';
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

async function setup(options: { journalMaxEntries?: number; url?: string } = {}) {
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
  const journal = new InvalidationJournal({
    dir: mkdtempSync(join(tmpdir(), 'bb-store-journal-')),
    maxEntries: options.journalMaxEntries ?? 1_000,
  });
  // Replays only when a test asks (and on 'ready'), so what Redis holds meanwhile is known.
  const store = new RedisStore({
    client,
    breaker,
    journal,
    commandTimeoutMs: 200,
    replayIntervalMs: 600_000,
  });
  cleanups.push(async () => {
    await store.close();
    breaker.dispose();
  });
  // The store's first round (clock measurement) starts on 'ready': let it finish, or it may
  // replay what a test journals next while the test still expects it journaled.
  if (options.url === undefined) await store.replayJournal();
  return { clock, breaker, client, store, journal };
}

/** Script calls Redis has executed since the last RESETSTAT. */
async function scriptCalls(): Promise<number> {
  const info = await direct.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval|get|del):calls=(\d+)/gm))
    total += Number(m[1]);
  return total;
}

const STAMP = /^1\|(\d+)\|(\d+)\|/;
const stored = async (key: string): Promise<string | null> =>
  (await direct.get(`bb:v1:${key}`))?.replace(STAMP, '') ?? null;

describe('RedisStore', () => {
  it('stores stamped JSON under the namespace with a PX TTL, reads it back, deletes it', async () => {
    const { store, breaker } = await setup();
    expect(await store.set('user:1', { name: 'Ada', n: [1, 2] }, 60_000)).toEqual({ status: 'ok' });
    const raw = (await direct.get('bb:v1:user:1'))!;
    expect(raw).toMatch(STAMP);
    const [, us, expiresAt] = STAMP.exec(raw)!;
    expect(Math.abs(Number(us) / 1000 - Date.now())).toBeLessThan(5_000); // Redis's clock
    expect(Number(expiresAt) - Number(us) / 1000).toBeCloseTo(60_000, -2);
    expect(await stored('user:1')).toBe('{"name":"Ada","n":[1,2]}');
    expect(await direct.pttl('bb:v1:user:1')).toBeGreaterThan(59_000);
    const hit = await store.get('user:1');
    expect(hit).toMatchObject({ status: 'hit', json: '{"name":"Ada","n":[1,2]}' });
    expect(hit.status === 'hit' && hit.ttlMs).toBeGreaterThan(59_000);
    expect(await store.delete('user:1')).toEqual({ status: 'ok' });
    expect(await direct.exists('bb:v1:user:1')).toBe(0);
    expect(breaker.metrics().calls).toMatchObject({ success: 3, failure: 0 });
  });

  it('an L2 read is one plain GET', async () => {
    const { store } = await setup();
    await store.set('k', 1, 10_000);
    await direct.config('RESETSTAT');
    await store.get('k');
    const info = await direct.info('commandstats');
    expect(info).toMatch(/^cmdstat_get:calls=1,/m);
    expect(info).not.toMatch(/cmdstat_evalsha/);
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
    expect(await store.get('n')).toMatchObject({ status: 'hit', json: 'null' });
    expect(await store.get('z')).toMatchObject({ status: 'hit', json: '0' });
  });

  it('rejects bad input without touching Redis', async () => {
    const { store } = await setup();
    await expect(store.setJson('k', '1', 0)).rejects.toThrow(RangeError);
    await expect(store.set('k', () => 1, 1_000)).rejects.toThrow(TypeError);
    expect(await scriptCalls()).toBe(0);
  });

  it('never serves a value it did not stamp', async () => {
    const { store } = await setup();
    await direct.set('bb:v1:bad', 'not json{');
    await direct.set('bb:v1:bad2', '1|123');
    expect(await store.get('bad')).toEqual({ status: 'miss' });
    expect(await store.get('bad2')).toEqual({ status: 'miss' });
  });

  it('falls back to EVAL when Redis lost its script cache', async () => {
    const { store } = await setup();
    await store.set('k', 1, 10_000);
    await direct.script('FLUSH');
    expect(await store.set('k', 2, 10_000)).toEqual({ status: 'ok' });
    expect(await store.get('k')).toMatchObject({ status: 'hit', json: '2' });
  });

  it('while the breaker rejects, does not touch Redis and reports skipped', async () => {
    const { store, breaker } = await setup();
    breaker.isolate();
    const before = await scriptCalls();
    const results = await Promise.all([
      store.get('a'),
      store.set('a', 1, 1_000),
      store.delete('b'),
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

  it('a write that reaches Redis after its deadline is refused by Redis (no ghost write)', async () => {
    const { store } = await setup();
    await store.set('k', 'v1', 60_000);
    // Redis holds every write for 500 ms (the pause is in force once it has answered), so the
    // SET's script runs after its 200 ms deadline.
    await direct.call('CLIENT', 'PAUSE', '500', 'WRITE');
    const before = await scriptCalls();
    expect((await store.set('k', 'ghost', 60_000)).status).toBe('error');
    await waitFor(async () => (await scriptCalls()) > before, { message: 'the late script ran' });
    expect(await stored('k')).toBe('"v1"'); // it was executed after the deadline: not applied
    expect(store.stats().lateWritesRefused).toBeGreaterThanOrEqual(0);
    expect(store.isPending('k')).toBe(true); // and its outcome was journaled
  });

  it('a DELETE that could not reach Redis is journaled, not read from L2, and replayed', async () => {
    const { store, breaker, journal } = await setup();
    await store.set('k', 'old', 60_000);
    breaker.isolate();
    expect((await store.delete('k')).status).toBe('skipped');
    expect(store.isPending('k')).toBe(true);
    expect(readFileSync(join(journal.dir!, 'journal.ndjson'), 'utf8')).toContain('{"k":"k"');
    expect(await stored('k')).toBe('"old"'); // Redis never heard of the delete
    expect(await store.get('k')).toEqual({ status: 'pending' });
    // The replay does not need the breaker (nor requests): Redis answering is enough.
    await store.replayJournal();
    expect(await direct.exists('bb:v1:k')).toBe(0);
    expect(store.stats()).toMatchObject({ journalSize: 0, journalReplayed: 1 });
  });

  it('the replay never deletes a newer write made elsewhere', async () => {
    const { store, breaker } = await setup();
    await store.set('k', 'old', 60_000);
    breaker.isolate();
    await store.set('k', 'mine', 60_000); // skipped: journaled as a conditional invalidation
    await new Promise((r) => setTimeout(r, 5));
    // Another replica writes a newer value (its own stamp, from Redis's clock).
    const other = await setup();
    expect(await other.store.set('k', 'newer', 60_000)).toEqual({ status: 'ok' });
    await store.replayJournal();
    expect(store.isPending('k')).toBe(false);
    expect(await stored('k')).toBe('"newer"');
  });

  it('a confirmed write or delete supersedes the journal entry', async () => {
    const { store, breaker } = await setup();
    breaker.isolate();
    await store.delete('a');
    await store.delete('b');
    breaker.reset();
    await store.set('a', 1, 60_000);
    await store.delete('b');
    expect(store.isPending('a')).toBe(false);
    expect(store.isPending('b')).toBe(false);
    expect(await stored('a')).toBe('1');
  });

  it('a full journal refuses the invalidation instead of flushing anything', async () => {
    const { store, breaker } = await setup({ journalMaxEntries: 2 });
    for (const k of ['a', 'b', 'c']) await store.set(k, k, 60_000);
    breaker.isolate();
    await store.delete('a');
    await store.delete('b');
    await store.delete('a'); // already journaled: no new entry
    await expect(store.delete('c')).rejects.toThrow(JournalFullError);
    await expect(store.set('c', 'x', 60_000)).rejects.toThrow(JournalFullError);
    expect(store.stats()).toMatchObject({ journalSize: 2, journalRejected: 2 });
    await store.replayJournal();
    expect(await stored('c')).toBe('"c"'); // nobody invalidated c: still there
    expect(await direct.exists('bb:v1:a', 'bb:v1:b')).toBe(0);
  });

  it('the journal survives the process: a new store replays it', async () => {
    const { store, breaker, journal } = await setup();
    await store.set('k', 'old', 60_000);
    breaker.isolate();
    await store.delete('k');
    const dir = journal.dir!;
    await store.close(); // (SIGKILL is covered by the fleet test)
    const breaker2 = new CircuitBreaker({ name: 'redis_cache', registry: null });
    const client = createRedisClient({ url: redis.url, commandTimeoutMs: 200 });
    const journal2 = new InvalidationJournal({ dir });
    expect(journal2.has('k')).toBe(true);
    const store2 = new RedisStore({ client, breaker: breaker2, journal: journal2 });
    cleanups.push(async () => {
      await store2.close();
      breaker2.dispose();
    });
    await waitFor(async () => (await direct.exists('bb:v1:k')) === 0, { timeoutMs: 5_000 });
    expect(journal2.size).toBe(0);
  });

  it('fails fast when Redis is unreachable and journals the writes', async () => {
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
  });

  it('a store that does not own the client leaves it open', async () => {
    const { breaker } = await setup();
    const client = createRedisClient({ url: redis.url });
    const store = new RedisStore({ client, breaker, ownsClient: false, namespace: 'other:' });
    await waitForRedisReady(client, 2_000);
    await store.set('k', 1, 1_000);
    expect(await direct.exists('other:k')).toBe(1);
    await store.close();
    expect(client.status).toBe('ready');
    await closeRedisClient(client);
  });
});
