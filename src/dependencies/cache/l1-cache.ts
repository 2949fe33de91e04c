import { LRUCache } from 'lru-cache';

/**
 * L1: an in-process LRU bounded by entry count AND bytes, with a TTL per entry.
 *
 * Values are kept as their JSON text: the size of an entry is the UTF-8 length of that text
 * plus its key, and every `get` returns a fresh copy (callers cannot mutate what is cached).
 *
 * Each entry carries a small integer `tag` given when it is stored (on a Redis Cluster: the
 * key's hash slot, see cascade-cache.ts), so the L1 hit path can ask whether copies of that
 * tag are coherent without hashing the key again, and a partial flush can drop the copies of
 * some tags only (`deleteTagged`).
 */

export interface L1CacheOptions {
  /** Maximum number of entries. Default 10 000. */
  maxEntries?: number;
  /** Maximum total size in bytes (JSON text + key). Default 64 MiB. */
  maxBytes?: number;
  /** Largest single entry in bytes. Default: maxBytes / 8 (one value cannot flush the cache). */
  maxEntryBytes?: number;
  /** TTL used when `set` is given none, ms. Default 300 000. */
  defaultTtlMs?: number;
  /** Monotonic clock in ms, for tests (default performance.now). */
  now?: () => number;
}

export interface L1Entry {
  value: unknown;
  json: string;
}

export interface L1Stats {
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
}

/** What the hit path reads of an entry (the entry itself: no allocation). */
export interface L1Copy {
  readonly json: string;
  readonly tag: number;
}

interface Stored {
  json: string;
  tag: number;
  size: number;
  /** When it was stored (the clock below). */
  at: number;
  /** A write Redis did not confirm: never served as coherent with Redis. */
  unconfirmed: boolean;
}

export class L1Cache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly defaultTtlMs: number;
  private readonly lru: LRUCache<string, Stored>;
  private readonly clock: () => number;

  constructor(options: L1CacheOptions = {}) {
    this.maxEntries = positiveInt('maxEntries', options.maxEntries ?? 10_000);
    this.maxBytes = positiveInt('maxBytes', options.maxBytes ?? 64 * 1024 * 1024);
    this.maxEntryBytes = positiveInt(
      'maxEntryBytes',
      options.maxEntryBytes ?? Math.max(1, Math.floor(this.maxBytes / 8)),
    );
    this.defaultTtlMs = positiveInt('defaultTtlMs', options.defaultTtlMs ?? 300_000);
    const now = options.now;
    this.clock = now ?? (() => performance.now());
    this.lru = new LRUCache<string, Stored>({
      max: this.maxEntries,
      maxSize: this.maxBytes,
      maxEntrySize: Math.min(this.maxEntryBytes, this.maxBytes),
      sizeCalculation: (stored) => stored.size,
      ttl: this.defaultTtlMs,
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      ...(now === undefined ? {} : { perf: { now }, ttlResolution: 0 }),
    });
  }

  /** The entry, parsed from a fresh copy of its JSON, or undefined (missing or expired). */
  get(key: string): L1Entry | undefined {
    const stored = this.lru.get(key);
    if (stored === undefined) return undefined;
    return { value: JSON.parse(stored.json) as unknown, json: stored.json };
  }

  /** The entry's JSON text (immutable, so it can be served as is), or undefined. */
  getJson(key: string): string | undefined {
    return this.lru.get(key)?.json;
  }

  /** Like getJson, but not for entries marked unconfirmed (a write Redis did not confirm). */
  getConfirmedJson(key: string): string | undefined {
    return this.getConfirmed(key)?.json;
  }

  /** The entry (JSON and tag) unless it is marked unconfirmed; the entry itself, not a copy. */
  getConfirmed(key: string): L1Copy | undefined {
    const stored = this.lru.get(key);
    return stored === undefined || stored.unconfirmed ? undefined : stored;
  }

  /** The entry's tag, or undefined (missing or expired). */
  tagOf(key: string): number | undefined {
    return this.lru.get(key)?.tag;
  }

  /** Marks the key's entry as a write Redis did not confirm, if it still holds `json`. */
  markUnconfirmed(key: string, json: string): void {
    const stored = this.lru.peek(key);
    if (stored !== undefined && stored.json === json) stored.unconfirmed = true;
  }

  /** The entry's JSON text if it was stored at or after `since` (same clock as `now`). */
  getJsonStoredSince(key: string, since: number): string | undefined {
    const stored = this.lru.get(key);
    return stored !== undefined && stored.at >= since ? stored.json : undefined;
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  /** Stores a JSON-serializable value. See setJson. */
  set(key: string, value: unknown, ttlMs?: number, tag = 0): boolean {
    const json = JSON.stringify(value);
    if (json === undefined) {
      this.lru.delete(key);
      return false;
    }
    return this.setJson(key, json, ttlMs, tag);
  }

  /**
   * Stores already-serialized JSON for `ttlMs` (default `defaultTtlMs`), with its `tag`. Returns
   * false when the entry is too large or the TTL is not positive; the key's previous value is
   * removed anyway, so a failed overwrite never leaves the old value readable.
   */
  setJson(key: string, json: string, ttlMs: number = this.defaultTtlMs, tag = 0): boolean {
    const size = Buffer.byteLength(json, 'utf8') + Buffer.byteLength(key, 'utf8');
    const ttl = Math.ceil(ttlMs);
    if (size > this.maxEntryBytes || size > this.maxBytes || !(ttl > 0) || !Number.isFinite(ttl)) {
      this.lru.delete(key);
      return false;
    }
    this.lru.set(key, { json, tag, size, at: this.clock(), unconfirmed: false }, { ttl });
    return true;
  }

  /** Removes the key; returns true if it was present. */
  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  /**
   * Removes every entry whose tag `matches`; returns how many. Walks the
   * whole cache: meant for rare events (a shard's connection re-established, a slot-map change).
   */
  deleteTagged(matches: (tag: number) => boolean): number {
    // Expired entries are never served (allowStale is off), so entries() may skip them.
    const doomed: string[] = [];
    for (const [key, stored] of this.lru.entries()) if (matches(stored.tag)) doomed.push(key);
    for (const key of doomed) this.lru.delete(key);
    return doomed.length;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  stats(): L1Stats {
    return {
      entries: this.lru.size,
      bytes: this.lru.calculatedSize,
      maxEntries: this.maxEntries,
      maxBytes: this.maxBytes,
    };
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 1) {
    throw new RangeError(`L1Cache ${name}: expected a number >= 1, got ${String(value)}`);
  }
  return Math.floor(value);
}
