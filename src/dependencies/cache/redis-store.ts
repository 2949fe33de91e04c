import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import type { Cluster, Redis } from 'ioredis';
import { CircuitOpenError, type CircuitBreaker } from 'breakerbox';
import { InvalidationJournal, JournalFullError } from './journal.js';
import { closeClusterClient } from './cluster/cluster-client.js';
import { closeRedisClient } from './redis-client.js';
import { WriteCoalescer } from './write-coalescer.js';

/**
 * L2: JSON values in Redis with a TTL, behind a circuit breaker. The one module that sends the
 * cache's data commands to Redis, standalone or Cluster: every command and script has exactly
 * one key, so on Cluster it routes by that key's slot; with a `topology`, each key is guarded
 * by its shard's breaker and stamped against its node's clock (one offset per node).
 *
 * Keys: `<namespace><key>` (`bb:v1:user:1`). Values carry a version stamp written by Redis
 * itself: `1|<server time, µs>|<expiry, server ms>|<JSON text>`.
 *
 * - get: one plain `GET` (the stamp is stripped client-side; the JSON text is not parsed).
 * - set: one script (KEYS[1] only) that reads Redis `TIME`, refuses to apply if the write's
 *   deadline (the moment this client answers "failed", in Redis's clock) has passed, and
 *   otherwise `SET ... PX`. So a write that answered `l2: false` never lands later.
 * - delete: one plain `DEL`.
 *
 * No stale reads after an outage: an invalidation that could not be confirmed (a DELETE, or a
 * SET whose outcome is unknown) is journaled (see journal.ts) before it is answered. While a
 * key is journaled, `get` does not read it from Redis (status `pending`). The journal is
 * replayed in the background (on the client's 'ready' event and every `replayIntervalMs`,
 * whether or not requests arrive, and whatever the breaker's state: reachability is what
 * matters) by a script that deletes the key only if its stamp is not newer than the
 * invalidation, so a newer write made by another replica is never removed.
 *
 * Every Redis operation on behalf of a request is exactly one `breaker.execute` call; a miss
 * is a success. While the breaker rejects, Redis is not touched and the result says `skipped`.
 */

export const DEFAULT_NAMESPACE = 'bb:v1:';

/**
 * Where a key lives, for a sharded L2 (Redis Cluster): which breaker guards it and which node's
 * clock stamps it. Without one, the store's single breaker guards every key and the one
 * server's clock is measured on `client`.
 */
export interface StoreTopology {
  /** The breaker guarding a Redis key (its shard's); undefined: the store's `breaker`. */
  breakerFor(redisKey: string): CircuitBreaker | undefined;
  /** The node (`host:port`) that owns a Redis key now; undefined when none does. */
  nodeOf(redisKey: string): string | undefined;
  /** Every node that owns keys now (masters). */
  nodes(): string[];
  /** `TIME` asked of that node (rejects when it cannot be reached). */
  time(node: string): Promise<[string | number, string | number]>;
  /** The node's connection is up. */
  ready(node: string): boolean;
}

export interface RedisStoreOptions {
  client: Redis | Cluster;
  breaker: CircuitBreaker;
  /** Sharded L2: breaker and clock per key (see StoreTopology). Default: one server. */
  topology?: StoreTopology;
  /** Prefix of every key this store writes. Default `bb:v1:`. */
  namespace?: string;
  /** Unconfirmed invalidations; default: an in-memory journal (tests). */
  journal?: InvalidationJournal;
  /** The client's command timeout: a write's deadline. Default 500. */
  commandTimeoutMs?: number;
  /** Background replay period. Default 1 000 ms. */
  replayIntervalMs?: number;
  /** Keys per replay round. Default 200. */
  replayBatchSize?: number;
  /** close() also closes the client (default true). */
  ownsClient?: boolean;
  /**
   * Optional OpenTelemetry tracer: one CLIENT span per L2 operation (`redis GET|SET|DEL`),
   * active while the breaker decides. Keys and values are never recorded.
   */
  tracer?: Tracer;
  /** Replay progress (for logs). */
  onReplay?: (event: { replayed: number; remaining: number }) => void;
}

export type L2GetResult =
  | { status: 'hit'; json: string; ttlMs: number | undefined }
  | { status: 'miss' }
  /** The key has a journaled invalidation: Redis is not read until it is replayed. */
  | { status: 'pending' }
  | { status: 'skipped'; error: CircuitOpenError }
  | { status: 'error'; error: unknown };

export type L2WriteResult =
  | { status: 'ok' }
  | { status: 'skipped'; error: CircuitOpenError }
  | { status: 'error'; error: unknown };

export interface RedisStoreStats {
  /** Keys whose invalidation has not reached Redis yet (the journal's size). */
  journalSize: number;
  journalMaxEntries: number;
  /** Journaled invalidations applied to Redis by the replay. */
  journalReplayed: number;
  /** Invalidations refused because the journal was full (answered 503). */
  journalRejected: number;
  /** Writes Redis refused because they arrived after their deadline. */
  lateWritesRefused: number;
}

/** A write reached Redis after its deadline and was not applied. */
export class LateWriteError extends Error {
  override readonly name = 'LateWriteError';
  constructor() {
    super('the write reached Redis after its deadline and was not applied');
  }
}

interface Script {
  text: string;
  sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

/** KEYS[1] = key; ARGV: json, ttl ms, deadline (server µs). 1 = stored, 0 = too late. */
const SET_SCRIPT = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now > tonumber(ARGV[3]) then return 0 end
local ttl = tonumber(ARGV[2])
local stamp = string.format('1|%.0f|%.0f|', now, math.floor(now / 1000) + ttl)
redis.call('SET', KEYS[1], stamp .. ARGV[1], 'PX', ttl)
return 1
`);

/**
 * KEYS[1] = key; ARGV[1] = invalidation time (server µs). Deletes the value if it was written
 * at or before that time (or is not stamped by this cache). 1 = deleted.
 */
const CONDITIONAL_DEL_SCRIPT = script(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = string.match(v, '^1|(%d+)|')
if s == nil or tonumber(s) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

const CLOSED_ERROR = new Error('RedisStore is closed');

export class RedisStore {
  readonly namespace: string;
  readonly breaker: CircuitBreaker;
  readonly journal: InvalidationJournal;
  private readonly client: Redis | Cluster;
  /** The request path's commands of one event-loop turn leave in one socket write. */
  private readonly coalescer: WriteCoalescer;
  private readonly topology: StoreTopology | undefined;
  private readonly commandTimeoutMs: number;
  private readonly batchSize: number;
  private readonly ownsClient: boolean;
  private readonly tracer: Tracer | undefined;
  private readonly onReplay: RedisStoreOptions['onReplay'];
  private readonly timer: NodeJS.Timeout;
  private readonly onReady: () => void;
  /** Per node ('' for the one server): Redis clock minus Date.now() (see measureOffset). */
  private readonly clocks = new Map<string, ClockBounds>();
  private replaying: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private lateWrites = 0;

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    this.coalescer = new WriteCoalescer(this.client);
    this.breaker = options.breaker;
    this.topology = options.topology;
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    this.journal = options.journal ?? new InvalidationJournal({ dir: undefined });
    this.commandTimeoutMs = options.commandTimeoutMs ?? 500;
    this.batchSize = Math.max(1, Math.floor(options.replayBatchSize ?? 200));
    this.ownsClient = options.ownsClient ?? true;
    this.tracer = options.tracer;
    this.onReplay = options.onReplay;
    this.onReady = () => {
      for (const clock of this.clocks.values()) clock.known = false;
      this.scheduleReplay();
    };
    this.client.on('ready', this.onReady);
    this.timer = setInterval(() => this.scheduleReplay(), options.replayIntervalMs ?? 1_000);
    this.timer.unref();
    if (this.client.status === 'ready') this.scheduleReplay();
  }

  /** The Redis key that holds `key`. */
  redisKey(key: string): string {
    return this.namespace + key;
  }

  /**
   * A node's connection came (back) up: re-measure its clock (it may be another server now)
   * and replay what is journaled. For a sharded L2, called on each node's 'ready'.
   */
  nodeReady(node: string): void {
    const clock = this.clocks.get(node);
    if (clock !== undefined) clock.known = false;
    this.scheduleReplay();
  }

  /** True if `key` has an invalidation that has not reached Redis yet. */
  isPending(key: string): boolean {
    return this.journal.has(key);
  }

  stats(): RedisStoreStats {
    return {
      journalSize: this.journal.size,
      journalMaxEntries: this.journal.maxEntries,
      journalReplayed: this.journal.counters.replayed,
      journalRejected: this.journal.counters.rejected,
      lateWritesRefused: this.lateWrites,
    };
  }

  get(key: string): Promise<L2GetResult> {
    if (this.tracer === undefined) return this.doGet(key);
    return this.traced('GET', () => this.doGet(key));
  }

  private async doGet(key: string): Promise<L2GetResult> {
    if (this.closed) return { status: 'error', error: CLOSED_ERROR };
    if (this.journal.has(key)) return { status: 'pending' };
    const redisKey = this.namespace + key;
    let raw: string | null;
    try {
      raw = await this.breakerFor(redisKey).execute(() => {
        this.coalescer.hold();
        return this.client.get(redisKey);
      });
    } catch (error) {
      return failed(error);
    }
    if (raw === null) return { status: 'miss' };
    // `1|<µs>|<expiry ms>|<json>`; anything else is not ours (or corrupted): never served.
    if (raw.charCodeAt(0) !== 49 || raw.charCodeAt(1) !== 124) return { status: 'miss' };
    const a = raw.indexOf('|', 2);
    const b = a < 0 ? -1 : raw.indexOf('|', a + 1);
    if (b < 0) return { status: 'miss' };
    const expiresAt = Number(raw.slice(a + 1, b));
    const remaining = expiresAt - (Date.now() + this.clockOf(redisKey).hi);
    return { status: 'hit', json: raw.slice(b + 1), ttlMs: remaining > 0 ? remaining : 1 };
  }

  /** Stores a JSON-serializable value for `ttlMs` (>= 1 ms, rounded up). */
  set(key: string, value: unknown, ttlMs: number): Promise<L2WriteResult> {
    const json = JSON.stringify(value);
    if (json === undefined) {
      return Promise.reject(new TypeError('RedisStore.set: value is not JSON-serializable'));
    }
    return this.setJson(key, json, ttlMs);
  }

  /**
   * Stores JSON text as is. If the outcome is not a confirmed store, the key is journaled
   * before this resolves; rejects with JournalFullError when the journal cannot take it.
   */
  setJson(key: string, json: string, ttlMs: number): Promise<L2WriteResult> {
    const ttl = Math.ceil(ttlMs);
    if (!(ttl >= 1) || !Number.isSafeInteger(ttl)) {
      return Promise.reject(
        new RangeError(`RedisStore.set: ttl must be a positive number of ms, got ${ttlMs}`),
      );
    }
    return this.traced('SET', () => this.doSet(key, json, ttl));
  }

  private async doSet(key: string, json: string, ttl: number): Promise<L2WriteResult> {
    if (this.closed) return this.unconfirmed(key, { status: 'error', error: CLOSED_ERROR });
    const sentAt = Date.now();
    const redisKey = this.namespace + key;
    try {
      await this.breakerFor(redisKey).execute(async () => {
        this.coalescer.hold();
        // The moment this client will give up on the write, in Redis's clock (the earliest
        // estimate of it, on the node that owns the key): Redis refuses to apply it after that.
        const offsetLo = this.clockOf(redisKey).lo;
        const deadlineUs = Math.floor((Date.now() + offsetLo + this.commandTimeoutMs) * 1000);
        const stored = await this.eval(SET_SCRIPT, redisKey, [
          json,
          String(ttl),
          String(deadlineUs),
        ]);
        if (stored !== 1) {
          this.lateWrites++;
          throw new LateWriteError();
        }
      });
    } catch (error) {
      return this.unconfirmed(key, failed(error));
    }
    this.journal.done(key, sentAt, false);
    return { status: 'ok' };
  }

  /** Deletes the key. If that is not confirmed, it is journaled before this resolves. */
  delete(key: string): Promise<L2WriteResult> {
    return this.traced('DEL', async () => {
      if (this.closed) return this.unconfirmed(key, { status: 'error', error: CLOSED_ERROR });
      const sentAt = Date.now();
      try {
        const redisKey = this.namespace + key;
        await this.breakerFor(redisKey).execute(() => {
          this.coalescer.hold();
          return this.client.del(redisKey);
        });
      } catch (error) {
        return this.unconfirmed(key, failed(error));
      }
      this.journal.done(key, sentAt, false);
      return { status: 'ok' };
    });
  }

  /** Replays the journal now (normally automatic). Resolves when this round is done. */
  async replayJournal(): Promise<void> {
    this.scheduleReplay();
    await this.replaying;
  }

  /** Stops background work, syncs the journal, then closes the client if owned. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      clearInterval(this.timer);
      this.client.off('ready', this.onReady);
      await this.replaying;
      this.journal.close();
      if (this.ownsClient) {
        if (this.client.isCluster) await closeClusterClient(this.client as Cluster);
        else await closeRedisClient(this.client as Redis);
      }
    })();
    return this.closing;
  }

  // ------------------------------------------------------------------ internals

  private async unconfirmed(key: string, result: Failed): Promise<Failed> {
    // Throws JournalFullError (the caller answers 503); an I/O error is the same answer.
    try {
      await this.journal.add(key, Date.now());
    } catch (error) {
      if (error instanceof JournalFullError) throw error;
      throw Object.assign(new JournalFullError(this.journal.maxEntries), { cause: error });
    }
    return result;
  }

  private breakerFor(redisKey: string): CircuitBreaker {
    if (this.topology === undefined) return this.breaker;
    return this.topology.breakerFor(redisKey) ?? this.breaker;
  }

  /** The clock bounds of the node that owns `redisKey` (zero bounds until measured). */
  private clockOf(redisKey: string): ClockBounds {
    const node = this.topology === undefined ? '' : (this.topology.nodeOf(redisKey) ?? '');
    return this.clocks.get(node) ?? UNMEASURED;
  }

  private nodes(): string[] {
    return this.topology === undefined ? [''] : this.topology.nodes();
  }

  private nodeReadyNow(node: string): boolean {
    if (this.topology === undefined) return this.client.status === 'ready';
    return this.client.status === 'ready' && this.topology.ready(node);
  }

  private scheduleReplay(): void {
    if (this.replaying !== undefined || this.closed) return;
    if (this.client.status !== 'ready') return;
    if (
      this.journal.size === 0 &&
      this.nodes().every((n) => this.clocks.get(n)?.known === true || !this.nodeReadyNow(n))
    ) {
      return;
    }
    this.replaying = this.replayLoop()
      .catch(() => undefined)
      .finally(() => {
        this.replaying = undefined;
      });
  }

  /**
   * Bounds a node's clock against ours with TIME. A slow link (a reconnect through a delaying
   * network) widens the bounds by its round trip, and a wide upper bound makes a journal
   * replay delete newer writes from other replicas: so take the narrowest of a few samples,
   * and intersect with the previous bounds while they overlap (the same clock: the true
   * offset lies in both). Disjoint bounds mean another clock (another server): start over.
   */
  private async measureOffset(node: string): Promise<void> {
    let lo = -Infinity;
    let hi = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const [s, us] =
        this.topology === undefined
          ? ((await this.client.time()) as [string | number, string | number])
          : await this.topology.time(node);
      const t1 = Date.now();
      const server = Number(s) * 1000 + Number(us) / 1000;
      if (server - t0 - (server - t1) < hi - lo) {
        lo = server - t1;
        hi = server - t0;
      }
      if (hi - lo <= 2) break;
    }
    const previous = this.clocks.get(node);
    const overlaps = previous !== undefined && lo <= previous.hi && hi >= previous.lo;
    this.clocks.set(node, {
      lo: overlaps ? Math.max(lo, previous.lo) : lo,
      hi: overlaps ? Math.min(hi, previous.hi) : hi,
      known: true,
    });
  }

  /** Measures the clock of every reachable node not measured since it (re)connected. */
  private async measureOffsets(): Promise<Set<string>> {
    const failedNodes = new Set<string>();
    await Promise.all(
      this.nodes().map(async (node) => {
        if (this.clocks.get(node)?.known === true) return;
        if (!this.nodeReadyNow(node)) {
          failedNodes.add(node);
          return;
        }
        try {
          await this.measureOffset(node);
        } catch {
          failedNodes.add(node);
        }
      }),
    );
    return failedNodes;
  }

  /**
   * Applies journaled invalidations while Redis answers. Per node: a node whose clock cannot
   * be read or whose delete fails is skipped for the rest of the round (its keys stay
   * journaled); the other nodes' keys keep being replayed. The one-server store stops at its
   * first failure, as before.
   */
  private async replayLoop(): Promise<void> {
    const failedNodes = await this.measureOffsets();
    if (this.topology === undefined && failedNodes.size > 0) return;
    let pending = this.journal.entries();
    while (!this.closed && pending.length > 0 && this.client.status === 'ready') {
      const batch: Array<[string, number, string]> = [];
      const rest: Array<[string, number]> = [];
      for (const [key, t] of pending) {
        const node = this.topology === undefined ? '' : this.topology.nodeOf(this.namespace + key);
        if (node === undefined || failedNodes.has(node)) continue;
        if (batch.length < this.batchSize) batch.push([key, t, node]);
        else rest.push([key, t]);
      }
      pending = rest;
      if (batch.length === 0) return;
      // Nodes first seen in this round (a new master after a failover) are measured first.
      for (const [, , node] of batch) {
        if (this.clocks.get(node)?.known === true || failedNodes.has(node)) continue;
        try {
          await this.measureOffset(node);
        } catch {
          failedNodes.add(node);
        }
      }
      const results = await Promise.allSettled(
        batch.map(([key, t, node]) => {
          if (failedNodes.has(node)) return Promise.reject(new Error('node failed'));
          const clock = this.clocks.get(node) ?? UNMEASURED;
          return this.eval(CONDITIONAL_DEL_SCRIPT, this.namespace + key, [
            // +1: Date.now() truncates to the millisecond; a later bound only deletes more.
            String(Math.ceil((t + 1 + clock.hi) * 1000)),
          ]);
        }),
      );
      let replayed = 0;
      results.forEach((r, i) => {
        const [key, t, node] = batch[i]!;
        if (r.status === 'fulfilled') {
          this.journal.done(key, t, true);
          replayed++;
        } else {
          failedNodes.add(node);
        }
      });
      this.onReplay?.({ replayed, remaining: this.journal.size });
      if (this.topology === undefined && replayed < batch.length) return;
    }
  }

  /** One script call: EVALSHA, falling back to EVAL when Redis does not have it cached. */
  private async eval(s: Script, key: string, args: readonly string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.client.eval(s.text, 1, key, ...args);
    }
  }

  /** Runs one L2 operation inside a span (when a tracer was given). Results never reject. */
  private traced<T extends { status: string; error?: unknown }>(
    operation: 'GET' | 'SET' | 'DEL',
    run: () => Promise<T>,
  ): Promise<T> {
    const tracer = this.tracer;
    if (tracer === undefined) return run();
    return tracer.startActiveSpan(
      `redis ${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system.name': 'redis', 'db.operation.name': operation },
      },
      async (span: Span) => {
        try {
          const result = await run();
          span.setAttribute('breakerbox.cache.l2_status', result.status);
          if (result.status === 'error') {
            const message = result.error instanceof Error ? result.error.message : 'error';
            span.setStatus({ code: SpanStatusCode.ERROR, message });
          }
          return result;
        } finally {
          span.end();
        }
      },
    );
  }
}

type Failed = Exclude<L2WriteResult, { status: 'ok' }>;

interface ClockBounds {
  /** Redis clock minus Date.now(), lower and upper bounds, ms. */
  lo: number;
  hi: number;
  /** Measured since the node's connection last came up. */
  known: boolean;
}

const UNMEASURED: ClockBounds = Object.freeze({ lo: 0, hi: 0, known: false });

function failed(error: unknown): Failed {
  return error instanceof CircuitOpenError
    ? { status: 'skipped', error }
    : { status: 'error', error };
}
