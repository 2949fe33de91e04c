import { describe, expect, it } from 'vitest';
import { L1Cache } from './l1-cache.js';

function fakeNow(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('L1Cache', () => {
  it('stores JSON values and returns fresh copies', () => {
    const l1 = new L1Cache();
    const value = { a: [1, 2], b: 'x' };
    expect(l1.set('k', value)).toBe(true);
    const got = l1.get('k');
    expect(got?.value).toEqual(value);
    (got?.value as { b: string }).b = 'mutated';
    expect(l1.get('k')?.value).toEqual(value);
    expect(l1.get('missing')).toBeUndefined();
    expect(l1.set('null', null)).toBe(true);
    expect(l1.get('null')).toEqual({ value: null, json: 'null' });
  });

  it('is bounded by entries (LRU order)', () => {
    const l1 = new L1Cache({ maxEntries: 2 });
    l1.set('a', 1);
    l1.set('b', 2);
    l1.get('a');
    l1.set('c', 3);
    expect([l1.has('a'), l1.has('b'), l1.has('c')]).toEqual([true, false, true]);
    expect(l1.size).toBe(2);
  });

  it('is bounded by bytes (JSON length + key)', () => {
    const l1 = new L1Cache({ maxBytes: 100, maxEntryBytes: 60 });
    const v = 'x'.repeat(38); // JSON is 40 bytes, + 1-byte key = 41
    l1.set('a', v);
    l1.set('b', v);
    expect(l1.bytes).toBe(82);
    l1.set('c', v);
    expect(l1.bytes).toBeLessThanOrEqual(100);
    expect(l1.has('a')).toBe(false);
    expect(l1.stats()).toMatchObject({ entries: 2, bytes: 82, maxBytes: 100 });
  });

  it('refuses an entry that is too large and drops the old value of that key', () => {
    const l1 = new L1Cache({ maxBytes: 1_000, maxEntryBytes: 50 });
    expect(l1.set('k', 'old')).toBe(true);
    expect(l1.set('k', 'y'.repeat(100))).toBe(false);
    expect(l1.get('k')).toBeUndefined();
  });

  it('refuses values that are not JSON and drops the old value', () => {
    const l1 = new L1Cache();
    l1.set('k', 1);
    expect(l1.set('k', undefined)).toBe(false);
    expect(l1.has('k')).toBe(false);
  });

  it('expires entries after their TTL', () => {
    const clock = fakeNow();
    const l1 = new L1Cache({ defaultTtlMs: 1_000, now: clock.now });
    l1.set('default', 1);
    l1.set('short', 2, 100);
    clock.advance(99);
    expect(l1.has('short')).toBe(true);
    clock.advance(2);
    expect(l1.get('short')).toBeUndefined();
    expect(l1.get('default')?.value).toBe(1);
    clock.advance(1_000);
    expect(l1.get('default')).toBeUndefined();
    expect(l1.set('zero', 1, 0)).toBe(false);
  });

  it('delete and clear', () => {
    const l1 = new L1Cache();
    l1.set('a', 1);
    expect(l1.delete('a')).toBe(true);
    expect(l1.delete('a')).toBe(false);
    l1.set('b', 2);
    l1.clear();
    expect(l1.size).toBe(0);
  });

  it('keeps a tag with each entry and drops the entries of some tags only', () => {
    const l1 = new L1Cache();
    l1.setJson('a', '1', 60_000, 7);
    l1.set('b', 2, 60_000, 9);
    l1.set('c', 3);
    expect(l1.getConfirmed('a')).toMatchObject({ json: '1', tag: 7 });
    expect(l1.tagOf('b')).toBe(9);
    expect(l1.tagOf('c')).toBe(0);
    l1.markUnconfirmed('b', '2');
    expect(l1.getConfirmed('b')).toBeUndefined(); // unconfirmed: never a fresh hit
    expect(l1.deleteTagged((tag) => tag === 7 || tag === 9)).toBe(2);
    expect([l1.has('a'), l1.has('b'), l1.has('c')]).toEqual([false, false, true]);
    expect(l1.deleteTagged(() => false)).toBe(0);
  });

  it('validates its bounds', () => {
    expect(() => new L1Cache({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new L1Cache({ maxBytes: Number.NaN })).toThrow(/maxBytes/);
  });
});
