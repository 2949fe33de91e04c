import { describe, expect, it } from 'vitest';
import { CircuitOpenError, CircuitState } from 'breakerbox';
import { CascadeCache, type LookupResult } from './cascade-cache.js';
import { L1Cache } from './l1-cache.js';
import type { L2GetResult, L2WriteResult, RedisStore } from './redis-store.js';

/** An L2 whose answers the test controls, including when they arrive. */
class FakeL2 {
  readonly calls: string[] = [];
  getResult: L2GetResult = { status: 'miss' };
  writeResult: L2WriteResult = { status: 'ok' };
  hold = false;
  private held: Array<() => void> = [];
  closed = 0;

  async get(key: string): Promise<L2GetResult> {
    this.calls.push(`get ${key}`);
    const result = this.getResult;
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    return result;
  }
  async setJson(key: string, json: string, ttlMs: number): Promise<L2WriteResult> {
    this.calls.push(`set ${key} ${json} ${ttlMs}`);
    return this.writeResult;
  }
  async delete(key: string): Promise<L2WriteResult> {
    this.calls.push(`del ${key}`);
    return this.writeResult;
  }
  async close(): Promise<void> {
    this.closed++;
  }
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

const OPEN = {
  status: 'skipped',
  error: new CircuitOpenError('redis_cache', CircuitState.Open, 1),
} as const;

function setup(
  options: { l1MaxTtlMs?: number; l1Admission?: 'second-read' | 'always' } = {},
  l1 = new L1Cache(),
) {
  const l2 = new FakeL2();
  const lookups: LookupResult[] = [];
  const cache = new CascadeCache({
    l1,
    l2: l2 as unknown as RedisStore,
    defaultTtlMs: 60_000,
    maxTtlMs: 120_000,
    onLookup: (r) => lookups.push(r),
    ...options,
  });
  return { l1, l2, cache, lookups };
}

describe('CascadeCache', () => {
  it('serves L1 first without touching L2', async () => {
    const { cache, l1, l2, lookups } = setup();
    l1.set('k', { a: 1 });
    expect(await cache.get('k')).toEqual({
      entry: { value: { a: 1 }, source: 'l1' },
      circuitOpen: false,
      l2: 'not_needed',
    });
    expect(l2.calls).toEqual([]);
    expect(lookups).toEqual(['l1']);
  });

  it("once L1 is full, copies an L2 hit only on the key's second recent read", async () => {
    const { cache, l1, l2 } = setup({}, new L1Cache({ maxEntries: 3 }));
    l2.getResult = { status: 'hit', json: '1', ttlMs: 30_000 };
    for (const key of ['a', 'b', 'c']) await cache.get(key); // room: every hit is copied
    expect([l1.has('a'), l1.has('b'), l1.has('c')]).toEqual([true, true, true]);
    expect(await cache.get('x')).toMatchObject({ entry: { source: 'l2' } });
    expect(l1.has('x')).toBe(false); // full, first read: the copies held are left alone
    expect(l1.size).toBe(3);
    expect(await cache.get('x')).toMatchObject({ entry: { source: 'l2' } });
    expect(l1.has('x')).toBe(true); // read again: admitted, the least recent copy goes
    expect(await cache.get('x')).toMatchObject({ entry: { source: 'l1' } });
    expect(l1.size).toBe(3);
  });

  it("with l1Admission 'always', every L2 hit is copied into a full L1", async () => {
    const { cache, l1, l2 } = setup({ l1Admission: 'always' }, new L1Cache({ maxEntries: 2 }));
    l2.getResult = { status: 'hit', json: '1', ttlMs: 30_000 };
    for (const key of ['a', 'b', 'c']) await cache.get(key);
    expect([l1.has('a'), l1.has('b'), l1.has('c')]).toEqual([false, true, true]);
  });

  it('an L2 hit fills L1 for the remaining Redis TTL (capped)', async () => {
    const { cache, l1, l2, lookups } = setup({ l1MaxTtlMs: 5_000 });
    l2.getResult = { status: 'hit', json: '[1]', ttlMs: 30_000 };
    expect(await cache.get('k')).toEqual({
      entry: { value: [1], source: 'l2' },
      circuitOpen: false,
      l2: 'hit',
    });
    expect(l1.get('k')?.value).toEqual([1]);
    expect(await cache.get('k')).toMatchObject({ entry: { source: 'l1' } });
    expect(lookups).toEqual(['l2', 'l1']);
    expect(cache.stats()).toMatchObject({
      lookups: { l1: 1, l2: 1, miss: 0 },
      l2: { hit: 1, miss: 0, pending: 0, skipped: 0, error: 0 },
    });
  });

  it('a miss says whether Redis was skipped by its breaker', async () => {
    const { cache, l2 } = setup();
    expect(await cache.get('k')).toEqual({ entry: undefined, circuitOpen: false, l2: 'miss' });
    l2.getResult = OPEN;
    expect(await cache.get('k')).toEqual({ entry: undefined, circuitOpen: true, l2: 'skipped' });
    l2.getResult = { status: 'error', error: new Error('boom') };
    expect(await cache.get('k')).toEqual({ entry: undefined, circuitOpen: false, l2: 'error' });
    expect(cache.stats().lookups.miss).toBe(3);
  });

  it('set writes through: L1, then L2 with the TTL (capped)', async () => {
    const { cache, l1, l2 } = setup();
    expect(await cache.set('k', { v: 1 }, 1_000_000)).toEqual({
      l1: true,
      l2: true,
      circuitOpen: false,
      pendingInvalidation: false,
    });
    expect(l1.get('k')?.value).toEqual({ v: 1 });
    expect(l2.calls).toEqual(['set k {"v":1} 120000']);
    await cache.set('d', 1);
    expect(l2.calls[1]).toBe('set d 1 60000');
  });

  it('set while Redis is skipped stores in L1, but serves it only as a marked fallback', async () => {
    const { cache, l2 } = setup();
    l2.writeResult = OPEN;
    expect(await cache.set('k', 'v')).toEqual({
      l1: true,
      l2: false,
      circuitOpen: true,
      circuitBreaker: 'redis_cache',
      pendingInvalidation: true,
    });
    // Redis never held it, so no invalidation would reach it: never served as coherent.
    expect(await cache.get('k')).toEqual({ entry: undefined, circuitOpen: false, l2: 'miss' });
    l2.getResult = OPEN;
    expect(await cache.get('k')).toEqual({
      entry: { value: 'v', source: 'l1' },
      circuitOpen: true,
      l2: 'skipped',
      stale: true,
    });
    expect(cache.stats().staleServed).toBe(1);
  });

  it('an invalidation drops the L1 copy, and a read in flight does not put it back', async () => {
    const { cache, l1, l2 } = setup();
    l1.set('k', 'old');
    cache.invalidate('k');
    expect(l1.has('k')).toBe(false);
    l2.getResult = { status: 'hit', json: '"old"', ttlMs: 10_000 };
    l2.hold = true;
    const read = cache.get('k');
    cache.invalidate('k'); // Redis changed it while the GET's answer was on its way
    l2.release();
    expect((await read).entry?.value).toBe('old');
    expect(l1.has('k')).toBe(false);
    expect(cache.stats().invalidations).toBe(2);
  });

  it('a flush empties L1 and a read in flight across it does not fill L1', async () => {
    const { cache, l1, l2 } = setup();
    l1.set('a', 1);
    l2.getResult = { status: 'hit', json: '2', ttlMs: 10_000 };
    l2.hold = true;
    const read = cache.get('b');
    cache.flush('reconnect');
    l2.release();
    await read;
    expect(l1.size).toBe(0);
    cache.flush('flushall');
    cache.flush('redis_restart');
    expect(cache.stats().flushes).toEqual({
      reconnect: 1,
      flushall: 1,
      redis_restart: 1,
      slot_map: 0,
    });
  });

  it('with tagged coherence, a copy is fresh while its own tag is, and a partial flush drops only its tags', async () => {
    const { cache, l1, l2 } = setup();
    const coherentTags = new Set([1, 2]);
    const lostAt = new Map<number, number>([[2, performance.now()]]);
    cache.setCoherence({
      coherent: () => false, // some tag is not coherent: never consulted with tags
      lastCoherentAt: () => -Infinity,
      fallbackMaxMs: 5_000,
      tagOf: (key) => Number(key.split(':')[0]),
      coherentTag: (tag) => coherentTags.has(tag),
      lastCoherentAtTag: (tag) => lostAt.get(tag) ?? -Infinity,
    });
    // Fills and writes store the key's tag with the copy.
    l2.getResult = { status: 'hit', json: '"one"', ttlMs: 10_000 };
    expect((await cache.get('1:a')).entry?.source).toBe('l2');
    await cache.set('2:b', 'two');
    await cache.set('3:c', 'three');
    expect([l1.tagOf('1:a'), l1.tagOf('2:b'), l1.tagOf('3:c')]).toEqual([1, 2, 3]);
    // Tags 1 and 2 coherent, 3 not: only 3 goes to Redis.
    l2.calls.length = 0;
    expect((await cache.get('1:a')).entry).toEqual({ value: 'one', source: 'l1' });
    expect((await cache.get('2:b')).entry).toEqual({ value: 'two', source: 'l1' });
    l2.getResult = { status: 'hit', json: '"three"', ttlMs: 10_000 };
    expect((await cache.get('3:c')).entry?.source).toBe('l2');
    expect(l2.calls).toEqual(['get 3:c']);
    // Tag 2 loses coherence and Redis cannot answer: its copy (coherence lost just now) is a
    // marked fallback, while tag 1's copy stays a fresh L1 hit.
    coherentTags.delete(2);
    l2.getResult = { status: 'error', error: new Error('down') };
    expect(await cache.get('2:b')).toMatchObject({ entry: { source: 'l1' }, stale: true });
    expect((await cache.get('1:a')).entry).toEqual({ value: 'one', source: 'l1' });
    // A partial flush drops the copies of the matching tags only, and a read in flight
    // (of any key) across it does not fill L1.
    l2.getResult = { status: 'hit', json: '"late"', ttlMs: 10_000 };
    l2.hold = true;
    const read = cache.get('3:z');
    cache.flushTagged((tag) => tag === 2, 'reconnect');
    l2.release();
    await read;
    expect([l1.has('1:a'), l1.has('2:b'), l1.has('3:c'), l1.has('3:z')]).toEqual([
      true,
      false,
      true,
      false,
    ]);
    expect(cache.stats().flushes.reconnect).toBe(1);
  });

  it('while L1 is not provably coherent it asks Redis; if Redis cannot answer, a recent copy is marked stale', async () => {
    const { cache, l1, l2 } = setup();
    let coherent = true;
    let lastCoherentAt = performance.now();
    cache.setCoherence({
      coherent: () => coherent,
      lastCoherentAt: () => lastCoherentAt,
      fallbackMaxMs: 5_000,
    });
    l1.set('k', 'cached');
    expect((await cache.get('k')).entry).toEqual({ value: 'cached', source: 'l1' });
    coherent = false;
    l2.getResult = { status: 'hit', json: '"redis"', ttlMs: 10_000 };
    expect((await cache.get('k')).entry).toEqual({ value: 'redis', source: 'l2' });
    l2.getResult = { status: 'error', error: new Error('down') };
    expect(await cache.get('k')).toMatchObject({ entry: { source: 'l1' }, stale: true });
    // Beyond the bound, neither the copy from before nor an old store is served.
    lastCoherentAt -= 10_000;
    l1.set('old', 1);
    expect((await cache.get('k')).entry?.value).toBe('redis'); // stored by the L2 hit just now
    expect(await cache.get('missing')).toMatchObject({ entry: undefined });
  });

  it('delete removes from both levels', async () => {
    const { cache, l1, l2 } = setup();
    l1.set('k', 1);
    expect(await cache.delete('k')).toEqual({
      l1: true,
      l2: true,
      circuitOpen: false,
      pendingInvalidation: false,
    });
    expect(l1.has('k')).toBe(false);
    l2.writeResult = { status: 'error', error: new Error('down') };
    expect(await cache.delete('k')).toEqual({
      l1: true,
      l2: false,
      circuitOpen: false,
      pendingInvalidation: true,
    });
  });

  it('a read that overlaps a delete never copies the old value into L1', async () => {
    const { cache, l1, l2 } = setup();
    l2.getResult = { status: 'hit', json: '"old"', ttlMs: 10_000 };
    l2.hold = true;
    const read = cache.get('k');
    await cache.delete('k');
    l2.release();
    expect((await read).entry?.value).toBe('old'); // concurrent: either answer is fine
    expect(l1.has('k')).toBe(false); // but it must not outlive the delete
    l2.hold = false;
    l2.getResult = { status: 'miss' };
    expect((await cache.get('k')).entry).toBeUndefined();
  });

  it('a read that overlaps a set never overwrites the newer L1 value', async () => {
    const { cache, l1, l2 } = setup();
    l2.getResult = { status: 'hit', json: '"old"', ttlMs: 10_000 };
    l2.hold = true;
    const reads = [cache.get('k'), cache.get('k')];
    await cache.set('k', 'new');
    l2.release();
    await Promise.all(reads);
    expect(l1.get('k')?.value).toBe('new');
    // Bookkeeping is dropped once nobody reads the key: a later read fills L1 again.
    l1.delete('k');
    l2.hold = false;
    await cache.get('k');
    expect(l1.get('k')?.value).toBe('old');
  });

  it('rejects values that are not JSON and TTLs that are not positive', async () => {
    const { cache, l2 } = setup();
    await expect(cache.set('k', undefined)).rejects.toThrow(TypeError);
    await expect(cache.set('k', 1, 0)).rejects.toThrow(RangeError);
    expect(l2.calls).toEqual([]);
  });

  it('a throwing lookup hook does not break reads', async () => {
    const l2 = new FakeL2();
    const cache = new CascadeCache({
      l1: new L1Cache(),
      l2: l2 as unknown as RedisStore,
      onLookup: () => {
        throw new Error('telemetry bug');
      },
    });
    expect(await cache.get('k')).toMatchObject({ entry: undefined });
  });

  it('close() closes L2 once', async () => {
    const { cache, l2 } = setup();
    await Promise.all([cache.close(), cache.close()]);
    expect(l2.closed).toBe(1);
  });
});
