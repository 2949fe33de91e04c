import { Doorkeeper } from './doorkeeper.js';
import type { L1Cache } from './l1-cache.js';
import type { L2GetResult, L2WriteResult, RedisStore } from './redis-store.js';
import type { FlushCause, TaggedCoherenceListener } from './tracking.js';

/**
 * The cache the HTTP layer uses: L1 (in-process LRU of JSON text) in front of L2 (Redis
 * behind the `redis_cache` breaker), kept coherent across replicas by Redis's invalidation
 * messages (see tracking.ts).
 *
 * - get: L1 if it is provably coherent (`coherence.coherent()`), else Redis; an L2 hit fills
 *   L1 (for the rest of the Redis TTL, capped at `l1MaxTtlMs`); once L1 is full, only a key
 *   read recently before (`l1Admission`, doorkeeper.ts). If Redis cannot answer and L1
 *   holds a copy that is at most `fallbackMaxMs` (5 s) behind (coherence was lost at most that
 *   long ago, or the copy was stored at most that long ago), that copy is served marked
 *   `stale: true` (the route sets `x-cache-stale: true`), never as if fresh.
 * - set: write-through, L1 first (so this process reads its own write), then L2. A write
 *   Redis did not confirm stays in L1 marked unconfirmed: served only as a marked fallback
 *   (no invalidation would ever reach a value Redis never held).
 * - delete: both levels.
 * - `circuitOpen` is true when Redis was needed but skipped because its breaker refused.
 *
 * Races: an L2 read that overlaps a set/delete of the same key, an invalidation of it, or an
 * L1 flush (whole or partial) never copies what it read into L1 (a per-key sequence number for
 * keys being read, and a flush epoch, are checked before inserting).
 *
 * Partitioned coherence (Redis Cluster): a coherence source may tag keys (`tagOf`, the hash
 * slot) and vouch for each tag separately (`coherentTag`). The tag is computed once when a copy
 * is stored and kept with it, so an L1 hit costs one map look-up and one array read, no hash;
 * `flushTagged` drops only the copies of some tags.
 */

export type CacheSource = 'l1' | 'l2';
export type LookupResult = 'l1' | 'l2' | 'miss';
export type L2Status = 'hit' | 'miss' | 'pending' | 'skipped' | 'error' | 'not_needed';

/**
 * What tells L1 whether it may serve: tracking.ts's InvalidationTracker (one Redis), or
 * cluster-cache.ts's ClusterTracking (one tracker per master, vouching per hash slot).
 */
export interface CoherenceSource {
  /** Every L1 copy is provably coherent. */
  coherent(now?: number): boolean;
  /** When L1 was last provably coherent (performance.now() clock; -Infinity: never). */
  lastCoherentAt(): number;
  /** How long after that (or after storing a copy) L1 may answer as a marked fallback. */
  readonly fallbackMaxMs: number;
  /** Partitioned sources only: the tag stored with the L1 copy of `key` (its hash slot). */
  tagOf?(key: string): number;
  /** Partitioned sources only: copies with this tag are provably coherent (the hit path). */
  coherentTag?(tag: number, now?: number): boolean;
  /** Partitioned sources only: `lastCoherentAt` for the copies with this tag. */
  lastCoherentAtTag?(tag: number): number;
}

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
  /** Present (true) when an L1 copy was served as a fallback, without proof it is current. */
  stale?: true;
}

/** A get without parsing: the JSON text as stored (what the HTTP route serves). */
export interface CacheGetJsonResult {
  json: string | undefined;
  source: CacheSource | undefined;
  circuitOpen: boolean;
  /** When `circuitOpen`: the breaker that refused (`redis_cache:<shard>` on a cluster). */
  circuitBreaker?: string;
  l2: L2Status;
  stale: boolean;
}

export interface CacheWriteResult {
  /** The level now holds the new state (set: stored; delete: removed). */
  l1: boolean;
  l2: boolean;
  /** Redis was skipped because its breaker is not letting calls through. */
  circuitOpen: boolean;
  /** When `circuitOpen`: the breaker that refused (`redis_cache:<shard>` on a cluster). */
  circuitBreaker?: string;
  /** L2 was not confirmed: the invalidation is journaled (applied before L2 serves the key). */
  pendingInvalidation: boolean;
}

export interface CacheStats {
  lookups: Record<LookupResult, number>;
  l2: Record<'hit' | 'miss' | 'pending' | 'skipped' | 'error', number>;
  /** Invalidation messages applied to L1 (keys). */
  invalidations: number;
  /** L1 flushes by cause. */
  flushes: Record<FlushCause, number>;
  /** L1 copies served as a marked fallback. */
  staleServed: number;
}

export interface CascadeCacheOptions {
  l1: L1Cache;
  l2: RedisStore;
  /** Absent: L1 is always trusted (a single process with nothing else writing Redis). */
  coherence?: CoherenceSource;
  /** TTL when `set` is given none, ms. Default 300 000. */
  defaultTtlMs?: number;
  /** Longest TTL accepted, ms (longer ones are capped). Default 7 days. */
  maxTtlMs?: number;
  /** Longest time a value stays in L1, ms. Default: no cap. */
  l1MaxTtlMs?: number;
  /**
   * Which L2 hits are copied into L1 once it is full: `second-read` (default) only keys read
   * recently before (a TinyLFU doorkeeper over the last `l1.maxEntries` first reads), so keys
   * read once do not evict keys read often; `always`: every hit. Below capacity every hit is
   * copied either way.
   */
  l1Admission?: 'second-read' | 'always';
  /** Called once per get, with where the value came from. Errors in the hook are swallowed. */
  onLookup?: (result: LookupResult) => void;
  /** Runs when the cache closes, alongside L2's close (the coherence source's teardown). */
  onClose?: () => Promise<void>;
}

const ALWAYS: CoherenceSource = {
  coherent: () => true,
  lastCoherentAt: () => Infinity,
  fallbackMaxMs: Infinity,
};

export class CascadeCache implements TaggedCoherenceListener {
  readonly l1: L1Cache;
  readonly l2: RedisStore;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly l1MaxTtlMs: number;
  private coherence: CoherenceSource;
  private readonly onLookup: ((result: LookupResult) => void) | undefined;
  private readonly onClose: (() => Promise<void>) | undefined;
  private readonly counts: CacheStats = {
    lookups: { l1: 0, l2: 0, miss: 0 },
    l2: { hit: 0, miss: 0, pending: 0, skipped: 0, error: 0 },
    invalidations: 0,
    flushes: { reconnect: 0, redis_restart: 0, flushall: 0, slot_map: 0 },
    staleServed: 0,
  };
  /**
   * Keys with reads waiting for L2: how many, and the sequence number of the key's latest
   * set/delete/invalidation while they wait (0: none). One map, so a read costs one look-up
   * to enter and one to leave.
   */
  private readonly reading = new Map<string, { readers: number; touchedAt: number }>();
  private seq = 0;
  /** Incremented by every L1 flush, whole or partial. */
  private epoch = 0;
  private closing: Promise<void> | undefined;
  private readonly doorkeeper: Doorkeeper | undefined;

  constructor(options: CascadeCacheOptions) {
    this.l1 = options.l1;
    this.l2 = options.l2;
    this.coherence = options.coherence ?? ALWAYS;
    this.defaultTtlMs = options.defaultTtlMs ?? 300_000;
    this.maxTtlMs = options.maxTtlMs ?? 7 * 24 * 3600 * 1000;
    this.l1MaxTtlMs = options.l1MaxTtlMs ?? Infinity;
    this.onLookup = options.onLookup;
    this.onClose = options.onClose;
    this.doorkeeper =
      options.l1Admission === 'always' ? undefined : new Doorkeeper(this.l1.maxEntries);
  }

  /** Wires the coherence source after construction (it needs this cache as its listener). */
  setCoherence(coherence: CoherenceSource): void {
    this.coherence = coherence;
  }

  /** CoherenceListener: Redis says `key` changed. */
  invalidate(key: string): void {
    this.counts.invalidations++;
    this.l1.delete(key);
    const read = this.reading.get(key);
    if (read !== undefined) read.touchedAt = ++this.seq;
  }

  /** CoherenceListener: drop every L1 copy. */
  flush(cause: FlushCause): void {
    this.counts.flushes[cause]++;
    this.epoch++;
    this.l1.clear();
  }

  /**
   * Drops the L1 copies whose tag `matches` (one shard's). Any read in flight, of any key, does
   * not fill L1 afterwards (one epoch for all: a lost fill costs a Redis read, nothing more).
   */
  flushTagged(matches: (tag: number) => boolean, cause: FlushCause): void {
    this.counts.flushes[cause]++;
    this.epoch++;
    this.l1.deleteTagged(matches);
  }

  /** The value, parsed into a fresh object (callers may mutate it). */
  async get(key: string): Promise<CacheGetResult> {
    const r = await this.getJson(key);
    const result: CacheGetResult = {
      entry:
        r.json === undefined
          ? undefined
          : { value: JSON.parse(r.json) as unknown, source: r.source! },
      circuitOpen: r.circuitOpen,
      l2: r.l2,
    };
    if (r.stale) result.stale = true;
    return result;
  }

  /** The value as JSON text; the L1 hit path allocates only its result. */
  async getJson(key: string): Promise<CacheGetJsonResult> {
    const local = this.l1.getConfirmed(key);
    if (local !== undefined && this.coherentCopy(local.tag)) {
      this.lookup('l1');
      return { json: local.json, source: 'l1', circuitOpen: false, l2: 'not_needed', stale: false };
    }
    const startSeq = this.seq;
    const startEpoch = this.epoch;
    let read = this.reading.get(key);
    if (read === undefined) this.reading.set(key, (read = { readers: 1, touchedAt: 0 }));
    else read.readers++;
    let remote: L2GetResult;
    try {
      remote = await this.l2.get(key);
    } finally {
      if (--read.readers === 0) this.reading.delete(key);
    }
    this.counts.l2[remote.status]++;
    if (remote.status === 'hit') {
      if (startEpoch === this.epoch && read.touchedAt <= startSeq && this.admits(key)) {
        const ttl = Math.min(remote.ttlMs ?? this.defaultTtlMs, this.l1MaxTtlMs);
        this.l1.setJson(key, remote.json, ttl, this.tagOf(key));
      }
      this.lookup('l2');
      return { json: remote.json, source: 'l2', circuitOpen: false, l2: 'hit', stale: false };
    }
    const circuitOpen = remote.status === 'skipped';
    if (remote.status !== 'miss' && this.l1.has(key)) {
      // Redis could not be asked (or the key's invalidation is still journaled): an L1 copy
      // from at most fallbackMaxMs after coherence was lost, or stored at most fallbackMaxMs
      // ago (this replica's own write), is better than nothing, but it says so.
      const now = performance.now();
      const max = this.coherence.fallbackMaxMs;
      const copy =
        now - this.lastCoherentAt(key) <= max
          ? this.l1.getJson(key)
          : this.l1.getJsonStoredSince(key, now - max);
      if (copy !== undefined) {
        this.counts.staleServed++;
        this.lookup('l1');
        return withBreaker<CacheGetJsonResult>(
          { json: copy, source: 'l1', circuitOpen, l2: remote.status, stale: true },
          remote,
        );
      }
    }
    this.lookup('miss');
    return withBreaker<CacheGetJsonResult>(
      { json: undefined, source: undefined, circuitOpen, l2: remote.status, stale: false },
      remote,
    );
  }

  /** Whether an L2 hit of `key` may be copied into L1 (always while L1 has room). */
  private admits(key: string): boolean {
    const l1 = this.l1;
    if (this.doorkeeper === undefined || (l1.size < l1.maxEntries && l1.bytes < l1.maxBytes)) {
      return true;
    }
    return this.doorkeeper.admit(key);
  }

  /**
   * Write-through. `ttlMs` defaults to `defaultTtlMs` and is capped at `maxTtlMs`. Rejects
   * with JournalFullError when Redis did not confirm and the invalidation cannot be journaled
   * (the L1 copy is dropped then: nothing was stored).
   */
  async set(key: string, value: unknown, ttlMs?: number): Promise<CacheWriteResult> {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('CascadeCache.set: value is not JSON-serializable');
    return this.setJson(key, json, ttlMs);
  }

  async setJson(key: string, json: string, ttlMs?: number): Promise<CacheWriteResult> {
    const ttl = Math.min(ttlMs ?? this.defaultTtlMs, this.maxTtlMs);
    if (!(ttl > 0)) throw new RangeError(`CascadeCache.set: ttl must be > 0 ms, got ${ttlMs}`);
    this.touch(key);
    const l1 = this.l1.setJson(key, json, Math.min(ttl, this.l1MaxTtlMs), this.tagOf(key));
    try {
      const remote = await this.l2.setJson(key, json, ttl);
      // Not in Redis (as far as anyone knows): no invalidation will ever tell L1 it is
      // outdated, so it is only ever served as a marked fallback.
      if (remote.status !== 'ok') this.l1.markUnconfirmed(key, json);
      return this.writeResult(l1, remote);
    } catch (error) {
      this.touch(key);
      this.l1.delete(key);
      throw error;
    }
  }

  async delete(key: string): Promise<CacheWriteResult> {
    this.touch(key);
    this.l1.delete(key);
    return this.writeResult(true, await this.l2.delete(key));
  }

  stats(): CacheStats {
    return {
      lookups: { ...this.counts.lookups },
      l2: { ...this.counts.l2 },
      invalidations: this.counts.invalidations,
      flushes: { ...this.counts.flushes },
      staleServed: this.counts.staleServed,
    };
  }

  /** Closes L2 (and its Redis client). Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.onClose?.(), this.l2.close()]).then(() => undefined);
    return this.closing;
  }

  private writeResult(l1: boolean, remote: L2WriteResult): CacheWriteResult {
    const ok = remote.status === 'ok';
    return withBreaker<CacheWriteResult>(
      { l1, l2: ok, circuitOpen: remote.status === 'skipped', pendingInvalidation: !ok },
      remote,
    );
  }

  /** Copies with this tag may be served as fresh now (the hit path: no allocation). */
  private coherentCopy(tag: number): boolean {
    const c = this.coherence;
    return c.coherentTag === undefined ? c.coherent() : c.coherentTag(tag);
  }

  private tagOf(key: string): number {
    return this.coherence.tagOf === undefined ? 0 : this.coherence.tagOf(key);
  }

  /** When the L1 copy of `key` was last provably coherent. */
  private lastCoherentAt(key: string): number {
    const c = this.coherence;
    if (c.lastCoherentAtTag === undefined) return c.lastCoherentAt();
    const tag = this.l1.tagOf(key);
    return tag === undefined ? -Infinity : c.lastCoherentAtTag(tag);
  }

  private touch(key: string): void {
    const seq = ++this.seq;
    const read = this.reading.get(key);
    if (read !== undefined) read.touchedAt = seq;
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

/** Adds the name of the breaker that refused a skipped L2 call. */
function withBreaker<T extends { circuitBreaker?: string }>(
  result: T,
  remote: L2GetResult | L2WriteResult,
): T {
  if (remote.status === 'skipped') result.circuitBreaker = remote.error.breakerName;
  return result;
}
