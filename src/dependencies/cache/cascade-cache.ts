import type { L1Cache } from './l1-cache.js';
import type { L2GetResult, L2WriteResult, RedisStore } from './redis-store.js';

/**
 * The cache the HTTP layer uses: L1 (in-process LRU) in front of L2 (Redis behind the
 * `redis_cache` breaker).
 *
 * - get: L1, then L2; an L2 hit fills L1 (for the rest of the Redis TTL, capped).
 * - set: write-through, L1 first (so this process reads its own write even when Redis is
 *   down), then L2.
 * - delete: both levels.
 * - `circuitOpen` is true when Redis was needed but skipped because its breaker refused the
 *   call: the route answers anyway and sets `x-circuit-open: redis_cache`.
 *
 * An L2 read that overlaps a set/delete of the same key may return the value it read (the read
 * and the write were concurrent), but it never copies that value into L1, so an older value
 * cannot shadow a newer write. See redis-store.ts for the pending invalidations that keep an
 * outage from resurrecting deleted or overwritten values.
 */

export type CacheSource = 'l1' | 'l2';
export type LookupResult = 'l1' | 'l2' | 'miss';
export type L2Status = 'hit' | 'miss' | 'skipped' | 'error' | 'not_needed';

export interface CacheEntry {
  value: unknown;
  source: CacheSource;
}

export interface CacheGetResult {
  /** The value and the level that served it, or undefined on a miss. */
  entry: CacheEntry | undefined;
  /** Redis was needed but skipped because its breaker is not letting calls through. */
  circuitOpen: boolean;
  /** What happened at L2 (`not_needed` on an L1 hit). */
  l2: L2Status;
}

export interface CacheWriteResult {
  /** The level now holds the new state (set: stored; delete: removed). */
  l1: boolean;
  l2: boolean;
  /** Redis was skipped because its breaker is not letting calls through. */
  circuitOpen: boolean;
  /** L2 was not confirmed: an invalidation is pending (applied before L2 serves the key). */
  pendingInvalidation: boolean;
}

export interface CacheStats {
  lookups: Record<LookupResult, number>;
  l2: Record<'hit' | 'miss' | 'skipped' | 'error', number>;
}

export interface CascadeCacheOptions {
  l1: L1Cache;
  l2: RedisStore;
  /** TTL when `set` is given none, ms. Default 300 000. */
  defaultTtlMs?: number;
  /** Longest TTL accepted, ms (longer ones are capped). Default 7 days. */
  maxTtlMs?: number;
  /** Longest time a value stays in L1, ms (bounds staleness across instances). Default: no cap. */
  l1MaxTtlMs?: number;
  /** Called once per get, with where the value came from. Errors in the hook are swallowed. */
  onLookup?: (result: LookupResult) => void;
}

export class CascadeCache {
  readonly l1: L1Cache;
  readonly l2: RedisStore;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly l1MaxTtlMs: number;
  private readonly onLookup: ((result: LookupResult) => void) | undefined;
  private readonly counts: CacheStats = {
    lookups: { l1: 0, l2: 0, miss: 0 },
    l2: { hit: 0, miss: 0, skipped: 0, error: 0 },
  };
  /** Reads of a key currently waiting for L2: key -> count. */
  private readonly reading = new Map<string, number>();
  /** For keys being read: the write sequence number of their latest set/delete. */
  private readonly writtenAt = new Map<string, number>();
  private writeSeq = 0;
  private closing: Promise<void> | undefined;

  constructor(options: CascadeCacheOptions) {
    this.l1 = options.l1;
    this.l2 = options.l2;
    this.defaultTtlMs = options.defaultTtlMs ?? 300_000;
    this.maxTtlMs = options.maxTtlMs ?? 7 * 24 * 3600 * 1000;
    this.l1MaxTtlMs = options.l1MaxTtlMs ?? Infinity;
    this.onLookup = options.onLookup;
  }

  async get(key: string): Promise<CacheGetResult> {
    const local = this.l1.get(key);
    if (local !== undefined) {
      this.lookup('l1');
      return { entry: { value: local.value, source: 'l1' }, circuitOpen: false, l2: 'not_needed' };
    }
    const startSeq = this.writeSeq;
    this.reading.set(key, (this.reading.get(key) ?? 0) + 1);
    let remote: L2GetResult;
    let written: number | undefined;
    try {
      remote = await this.l2.get(key);
    } finally {
      written = this.writtenAt.get(key);
      const n = (this.reading.get(key) ?? 1) - 1;
      if (n > 0) this.reading.set(key, n);
      else {
        this.reading.delete(key);
        this.writtenAt.delete(key);
      }
    }
    this.counts.l2[remote.status]++;
    if (remote.status === 'hit') {
      // Fill L1 only if no set/delete of this key started while we were reading.
      if (written === undefined || written <= startSeq) {
        this.l1.setJson(
          key,
          remote.json,
          Math.min(remote.ttlMs ?? this.defaultTtlMs, this.l1MaxTtlMs),
        );
      }
      this.lookup('l2');
      return { entry: { value: remote.value, source: 'l2' }, circuitOpen: false, l2: 'hit' };
    }
    this.lookup('miss');
    return { entry: undefined, circuitOpen: remote.status === 'skipped', l2: remote.status };
  }

  /** Write-through. `ttlMs` defaults to `defaultTtlMs` and is capped at `maxTtlMs`. */
  async set(key: string, value: unknown, ttlMs?: number): Promise<CacheWriteResult> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('CascadeCache.set: value is not JSON-serializable');
    const ttl = Math.min(ttlMs ?? this.defaultTtlMs, this.maxTtlMs);
    if (!(ttl > 0)) throw new RangeError(`CascadeCache.set: ttl must be > 0 ms, got ${ttlMs}`);
    this.wrote(key);
    const l1 = this.l1.setJson(key, json, Math.min(ttl, this.l1MaxTtlMs));
    return this.writeResult(l1, await this.l2.setJson(key, json, ttl));
  }

  async delete(key: string): Promise<CacheWriteResult> {
    this.wrote(key);
    this.l1.delete(key);
    return this.writeResult(true, await this.l2.delete(key));
  }

  stats(): CacheStats {
    return { lookups: { ...this.counts.lookups }, l2: { ...this.counts.l2 } };
  }

  /** Closes L2 (and its Redis client). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.l2.close();
    return this.closing;
  }

  private writeResult(l1: boolean, remote: L2WriteResult): CacheWriteResult {
    const ok = remote.status === 'ok';
    return { l1, l2: ok, circuitOpen: remote.status === 'skipped', pendingInvalidation: !ok };
  }

  private wrote(key: string): void {
    const seq = ++this.writeSeq;
    if (this.reading.has(key)) this.writtenAt.set(key, seq);
  }

  private lookup(result: LookupResult): void {
    this.counts.lookups[result]++;
    if (this.onLookup === undefined) return;
    try {
      this.onLookup(result);
    } catch {
      // Telemetry must never break a cache read.
    }
  }
}
