import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CircuitState } from 'breakerbox';
import type { CacheGetResult } from '../../src/dependencies/cache/index.js';
import { stopAllRedis, sleep, waitFor } from '@breakerbox/devkit';
import { CacheHarness, type HarnessOptions } from './harness.js';

// Real redis-server processes behind a FaultProxy; real command timeouts (150 ms); the
// breaker's clock is a FakeClock, so recovery needs no sleeping.

const harnesses: CacheHarness[] = [];
async function start(options: HarnessOptions = {}): Promise<CacheHarness> {
  const h = await CacheHarness.start(options);
  harnesses.push(h);
  return h;
}

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});
afterAll(() => stopAllRedis());

describe('Redis outages through a fault proxy', () => {
  it('SIGKILL mid-traffic: no unhandled rejection, L1 keeps answering, the breaker opens', async () => {
    const h = await start({ failureThreshold: 5 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 10; i++) await h.cache.set(`hot:${i}`, { i });
      // (Redis echoes this client's own script writes as invalidations: read once to fill L1.)
      await sleep(20);
      for (let i = 0; i < 10; i++) await h.cache.get(`hot:${i}`);
      let killed = false;
      let hotServed = 0;
      let ops = 0;
      const worker = async (w: number): Promise<void> => {
        const until = performance.now() + 600;
        for (let n = 0; performance.now() < until; n++) {
          const hot = await h.cache.get(`hot:${n % 10}`);
          expect(hot.entry).toEqual({ value: { i: n % 10 }, source: 'l1' });
          hotServed++;
          await h.cache.get(`cold:${w}:${n}`); // needs Redis
          await h.cache.set(`new:${w}:${n}`, n);
          ops += 3;
          await sleep(2);
        }
      };
      const killer = (async () => {
        await sleep(150);
        await h.redis.kill('SIGKILL');
        killed = true;
      })();
      await Promise.all([worker(0), worker(1), worker(2), worker(3), killer]);
      expect(killed).toBe(true);
      expect(ops).toBeGreaterThan(100);
      expect(hotServed).toBeGreaterThan(30);
      expect(h.transitions).toContainEqual({ from: 'closed', to: 'open' });
      expect(h.breaker.state).toBe(CircuitState.Open);
      // While open: answers keep coming, fast, with the circuit flag on Redis misses.
      const started = performance.now();
      const miss = await h.cache.get('cold:after');
      expect(miss).toEqual({ entry: undefined, circuitOpen: true, l2: 'skipped' });
      expect((await h.cache.get('hot:3')).entry?.value).toEqual({ i: 3 });
      expect(performance.now() - started).toBeLessThan(20);
      await sleep(20); // let any stray rejection surface
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('blackhole: opens after the threshold, then not one byte reaches the proxy', async () => {
    const h = await start({ failureThreshold: 5, commandTimeoutMs: 150, socketTimeoutMs: 300 });
    await h.cache.set('k', 'v'); // L1 + Redis
    await h.proxy.setMode('blackhole');
    const first = performance.now();
    for (let i = 0; i < 5; i++) {
      // Timeouts; once the client gives up on the dead socket, immediate connection errors.
      const r = await h.cache.get(`miss:${i}`);
      expect(r).toEqual({ entry: undefined, circuitOpen: false, l2: 'error' });
      if (i === 0) expect(performance.now() - first).toBeGreaterThanOrEqual(140);
    }
    expect(h.breaker.state).toBe(CircuitState.Open);
    expect(h.breaker.metrics().calls.failure).toBe(5);

    await h.proxy.setMode('pass');
    await h.resetRedisStats();
    await h.proxy.setMode('blackhole');
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      expect((await h.cache.get(`miss:${i}`)).circuitOpen).toBe(true);
      expect(await h.cache.set(`s:${i}`, i)).toMatchObject({
        l1: true,
        l2: false,
        circuitOpen: true,
      });
      expect(await h.cache.delete(`d:${i}`)).toMatchObject({ l2: false, circuitOpen: true });
      expect(await h.cache.get('k')).toMatchObject({
        entry: { value: 'v', source: 'l1' },
        stale: true,
      });
    }
    expect(performance.now() - started).toBeLessThan(500); // 400 calls, none waited on Redis
    // Outlive the client's socket timeout too: its reconnect sends no cache command either
    // (only tracking's own PING/CLIENT/INFO).
    await sleep(400);
    await h.proxy.setMode('pass');
    expect(await h.scriptCalls()).toBe(0);
    // 300 writes and misses, plus 100 reads of 'k': L1 is not provably coherent any more, so
    // Redis is asked first (rejected), then the L1 copy answers marked stale.
    expect(h.breaker.metrics().calls.rejected).toBe(400);
  });

  it('slow answers past the command timeout are failures', async () => {
    const h = await start({ failureThreshold: 5, commandTimeoutMs: 150 });
    await h.proxy.setMode('delay', { delayMs: 400 });
    const results: CacheGetResult[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      results.push(await h.cache.get(`slow:${i}`));
      expect(performance.now() - started).toBeLessThan(390); // did not wait for the answer
    }
    expect(results.every((r) => r.l2 === 'error' && r.entry === undefined)).toBe(true);
    expect(h.breaker.metrics()).toMatchObject({ state: 'open', calls: { failure: 5, success: 0 } });
    expect(h.proxy.stats().bytesFromClients).toBeGreaterThan(0); // they did reach Redis
  });

  it('Redis restarts: after the recovery timeout one probe closes the circuit', async () => {
    const h = await start({ failureThreshold: 3 });
    await h.redis.kill('SIGKILL');
    for (let i = 0; i < 3; i++) await h.cache.get(`k${i}`);
    expect(h.breaker.state).toBe(CircuitState.Open);
    await h.redis.restart();
    await h.waitReady();
    expect((await h.cache.get('still-open')).circuitOpen).toBe(true); // timeout not over yet
    expect(await h.scriptCalls()).toBe(0);

    h.passRecoveryTimeout();
    expect(await h.cache.get('probe')).toEqual({
      entry: undefined,
      circuitOpen: false,
      l2: 'miss',
    });
    expect(h.breaker.state).toBe(CircuitState.Closed);
    expect(await h.scriptCalls()).toBe(1);
    expect(h.transitions).toEqual([
      { from: 'closed', to: 'open' },
      { from: 'open', to: 'half_open' },
      { from: 'half_open', to: 'closed' },
    ]);
    await h.cache.set('after', 1);
    expect(await h.storedJson('after')).toBe('1');
  });

  it.each([1, 3])(
    'after the recovery timeout, 50 concurrent requests send exactly %i probe(s) to Redis',
    async (n) => {
      const h = await start({ failureThreshold: 3, halfOpenMaxCalls: n });

      await h.openWithRefusedConnections(3);
      await h.proxy.setMode('pass');
      await h.waitReady();
      await h.resetRedisStats();

      h.passRecoveryTimeout();
      const keys = Array.from({ length: 50 }, (_, i) => `key:${String(i).padStart(2, '0')}`);
      const results = await Promise.all(keys.map((k) => h.cache.get(k)));

      expect(await h.scriptCalls()).toBe(n);
      expect(results.filter((r) => r.l2 === 'miss')).toHaveLength(n);
      expect(results.filter((r) => r.circuitOpen)).toHaveLength(50 - n);
      expect(h.breaker.state).toBe(CircuitState.Closed);
      expect(h.breaker.metrics().calls.rejected).toBe(50 - n);
    },
  );

  it('cache misses in HALF_OPEN close the circuit', async () => {
    const h = await start({ failureThreshold: 3, halfOpenMaxCalls: 2 });
    await h.openWithRefusedConnections(3);
    await h.proxy.setMode('pass');
    await h.waitReady();
    h.passRecoveryTimeout();
    expect((await h.cache.get('absent:1')).l2).toBe('miss');
    expect(h.breaker.state).toBe(CircuitState.HalfOpen);
    expect((await h.cache.get('absent:2')).l2).toBe('miss');
    expect(h.breaker.state).toBe(CircuitState.Closed);
  });
});

describe('no stale reads after recovery', () => {
  it('a DELETE during an outage never lets the old value come back', async () => {
    const h = await start({ failureThreshold: 3 });
    await h.cache.set('a', 'old-a');
    await h.cache.set('b', 'old-b');
    await h.proxy.setMode('refuse');
    // 'a' is deleted while the breaker is still closed (the DEL fails), 'b' once it is open.
    expect(await h.cache.delete('a')).toMatchObject({ l1: true, l2: false, circuitOpen: false });
    for (let i = 0; i < 3; i++) await h.cache.get(`x${i}`);
    expect(h.breaker.state).toBe(CircuitState.Open);
    expect(await h.cache.delete('b')).toMatchObject({ l1: true, l2: false, circuitOpen: true });
    expect(await h.storedJson('a')).toBe('"old-a"'); // Redis still has both old values
    expect(await h.storedJson('b')).toBe('"old-b"');
    expect((await h.cache.get('a')).entry).toBeUndefined();

    await h.proxy.setMode('pass');
    await h.waitReady();
    h.passRecoveryTimeout();
    // Journaled: never read from Redis until replayed; the replay needs no request.
    await waitFor(() => h.store.stats().journalSize === 0, { timeoutMs: 5_000 });
    expect((await h.cache.get('a')).entry).toBeUndefined();
    expect((await h.cache.get('b')).entry).toBeUndefined();
    expect(await h.rawValue('a')).toBeNull();
    expect(await h.rawValue('b')).toBeNull();
    for (let i = 0; i < 5; i++) expect((await h.cache.get('b')).entry).toBeUndefined();
  });

  it('the background replay applies journaled deletes once Redis answers, breaker open or not', async () => {
    const h = await start({ failureThreshold: 3 });
    for (const k of ['p', 'q', 'r']) await h.cache.set(k, `old-${k}`);
    await h.openWithRefusedConnections(3);
    for (const k of ['p', 'q', 'r']) await h.cache.delete(k);
    expect(h.store.stats().journalSize).toBe(3);
    await h.proxy.setMode('pass');
    await h.waitReady();
    await waitFor(() => h.store.stats().journalSize === 0, { timeoutMs: 5_000 });
    expect(h.breaker.state).toBe(CircuitState.Open); // no request was needed
    for (const k of ['p', 'q', 'r']) expect(await h.rawValue(k)).toBeNull();
  });

  it('an overwrite that could not reach Redis never lets the old value come back', async () => {
    const h = await start({ failureThreshold: 3 });
    await h.cache.set('k', 'v1');
    await h.openWithRefusedConnections(3);
    expect(await h.cache.set('k', 'v2')).toMatchObject({ l1: true, l2: false, circuitOpen: true });
    expect(await h.cache.get('k')).toMatchObject({
      entry: { value: 'v2', source: 'l1' },
      stale: true, // this replica's own unconfirmed write: a marked fallback
    });
    h.l1.clear(); // L1 evicted it (or another instance asks): only Redis's stale 'v1' is left
    expect((await h.cache.get('k')).entry).toBeUndefined();
    await h.proxy.setMode('pass');
    await h.waitReady();
    h.passRecoveryTimeout();
    expect((await h.cache.get('k')).entry).toBeUndefined();
    await waitFor(() => h.store.stats().journalSize === 0, { timeoutMs: 5_000 });
    expect(await h.rawValue('k')).toBeNull();
    expect((await h.cache.get('k')).entry).toBeUndefined();
  });

  it('a write that timed out is refused by Redis when it arrives late (no ghost write)', async () => {
    const h = await start({ failureThreshold: 5, commandTimeoutMs: 150 });
    await h.cache.set('k', 'v1');
    await h.proxy.setMode('delay', { delayMs: 300 });
    expect(await h.cache.set('k', 'v2')).toMatchObject({ l2: false, pendingInvalidation: true });
    await h.proxy.setMode('pass'); // the delayed SET now reaches Redis: after its deadline
    await h.waitReady();
    await waitFor(() => h.store.stats().journalSize === 0, { timeoutMs: 5_000 });
    // Refused (or, if it had landed in time, removed by the conditional replay).
    expect(await h.storedJson('k')).not.toBe('"v2"');
    h.l1.clear();
    expect((await h.cache.get('k')).entry?.value).not.toBe('v2');
    await h.cache.set('k', 'v3');
    expect((await h.cache.get('k')).entry?.value).toBe('v3');
  });

  it('a full journal answers the invalidation with an error, never a flush of other keys', async () => {
    const h = await start({ failureThreshold: 3, journalMaxEntries: 3 });
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    for (const k of keys) await h.cache.set(k, `old-${k}`);
    await h.openWithRefusedConnections(3);
    for (const k of keys.slice(0, 3)) await h.cache.delete(k);
    await expect(h.cache.delete('k4')).rejects.toThrow(/journal is full/);
    expect(h.store.stats()).toMatchObject({ journalSize: 3, journalRejected: 1 });
    await h.proxy.setMode('pass');
    await h.waitReady();
    await waitFor(() => h.store.stats().journalSize === 0, { timeoutMs: 5_000 });
    for (const k of keys.slice(0, 3)) expect(await h.rawValue(k)).toBeNull();
    // Nobody invalidated k4 (its DELETE was refused) or k5: both still served.
    expect(await h.storedJson('k4')).toBe('"old-k4"');
    expect(await h.storedJson('k5')).toBe('"old-k5"');
  });
});
