import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { CircuitOpenError, CircuitState, type CircuitBreaker, type Disposable } from 'breakerbox';
import { closeRedisClient } from './redis-client.js';

/**
 * L2: JSON values in Redis with a TTL, behind a circuit breaker.
 *
 * Every Redis operation is exactly one `breaker.execute` call; a miss is a success. While the
 * breaker rejects, Redis is not touched at all and the result says `skipped`.
 *
 * Keys live under a namespace and a generation: `<ns>g<gen>:<key>` (e.g. `bb:v1:g0:user:1`),
 * where `<gen>` is the integer stored at `<ns>gen` (absent = 0). Each operation is one small
 * Lua script that reads the generation server-side, so every instance and every restart of
 * this process agrees on it.
 *
 * No stale reads after an outage: an invalidation that could not be confirmed (a DELETE, or a
 * SET whose outcome is unknown because it failed, timed out or was skipped) leaves the key in a
 * bounded set of pending invalidations. While a key is pending, L2 never serves it: the next
 * read of that key deletes it instead (same script, same round trip) and reports a miss, and
 * pending keys are also deleted in the background as soon as the breaker is closed again.
 * If more than `maxPendingInvalidations` keys are pending, the set is replaced by one
 * "generation bump" (INCR of the generation, carried by the next operation that reaches Redis):
 * every value written before it becomes unreachable and expires by its own TTL.
 */

export const DEFAULT_NAMESPACE = 'bb:v1:';

export interface RedisStoreOptions {
  client: Redis;
  breaker: CircuitBreaker;
  /** Prefix of every key this store writes. Default `bb:v1:`. */
  namespace?: string;
  /** Bound of the pending-invalidation set; beyond it, a generation bump. Default 10 000. */
  maxPendingInvalidations?: number;
  /** Keys per background DEL while applying pending invalidations. Default 100. */
  flushBatchSize?: number;
  /** close() also closes the client (default true). */
  ownsClient?: boolean;
  /**
   * Optional OpenTelemetry tracer: one CLIENT span per L2 operation (`redis GET|SET|DEL`),
   * active while the breaker decides, so a rejection's `circuit_breaker.rejected` event lands
   * on it. Attributes: db.system.name, db.operation.name, breakerbox.cache.l2_status. Keys and
   * values are never recorded.
   */
  tracer?: Tracer;
}

export type L2GetResult =
  | { status: 'hit'; value: unknown; json: string; ttlMs: number | undefined }
  | { status: 'miss' }
  | { status: 'skipped'; error: CircuitOpenError }
  | { status: 'error'; error: unknown };

export type L2WriteResult =
  | { status: 'ok' }
  | { status: 'skipped'; error: CircuitOpenError }
  | { status: 'error'; error: unknown };

export interface RedisStoreStats {
  /** Keys whose invalidation has not reached Redis yet. */
  pendingInvalidations: number;
  /** The pending set overflowed: a generation bump must reach Redis before L2 serves reads. */
  generationBumpPending: boolean;
  /** Times the pending set overflowed into a generation bump. */
  invalidationOverflows: number;
  /** Generation bumps that reached Redis. */
  generationBumps: number;
  /** Pending invalidations applied (by a read of the key or by the background flush). */
  invalidationsApplied: number;
}

interface Script {
  text: string;
  sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

// KEYS[1] = generation key. Shared prologue: optional bump, then the data key prefix.
const PROLOGUE = `
if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) end
local p = ARGV[1] .. (redis.call('GET', KEYS[1]) or '0') .. ':'
`;

/** ARGV: prefix, bump, key, delete-instead ('1': apply a pending invalidation, report a miss). */
const GET_SCRIPT = script(`${PROLOGUE}
local k = p .. ARGV[3]
if ARGV[4] == '1' then redis.call('DEL', k) return false end
local v = redis.call('GET', k)
if not v then return false end
return {v, redis.call('PTTL', k)}
`);

/** ARGV: prefix, bump, key, json, ttl ms. */
const SET_SCRIPT = script(`${PROLOGUE}
return redis.call('SET', p .. ARGV[3], ARGV[4], 'PX', ARGV[5])
`);

/** ARGV: prefix, bump, key... Returns how many existed. */
const DEL_SCRIPT = script(`${PROLOGUE}
local n = 0
for i = 3, #ARGV do n = n + redis.call('DEL', p .. ARGV[i]) end
return n
`);

const CLOSED_ERROR = new Error('RedisStore is closed');

export class RedisStore {
  readonly namespace: string;
  readonly breaker: CircuitBreaker;
  private readonly client: Redis;
  private readonly genKey: string;
  private readonly dataPrefix: string;
  private readonly maxPending: number;
  private readonly batchSize: number;
  private readonly ownsClient: boolean;
  private readonly subscription: Disposable;
  private readonly tracer: Tracer | undefined;

  /** Increases with every invalidation; operations remember the value they were sent at. */
  private seq = 0;
  /** key -> seq of its latest unconfirmed invalidation (insertion order = age). */
  private readonly pending = new Map<string, number>();
  /** Set when the pending set overflowed (at this seq); cleared by a bump sent after it. */
  private bumpNeededSeq: number | undefined;
  private flushing: Promise<void> | undefined;
  /** Operations in flight that carry the generation bump. */
  private bumpsInFlight = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counters = { overflows: 0, bumps: 0, applied: 0 };

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    this.breaker = options.breaker;
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    this.genKey = `${this.namespace}gen`;
    this.dataPrefix = `${this.namespace}g`;
    this.maxPending = Math.max(1, Math.floor(options.maxPendingInvalidations ?? 10_000));
    this.batchSize = Math.max(1, Math.floor(options.flushBatchSize ?? 100));
    this.ownsClient = options.ownsClient ?? true;
    this.tracer = options.tracer;
    this.subscription = this.breaker.onStateChange((event) => {
      if (event.to === CircuitState.Closed) queueMicrotask(() => this.scheduleFlush());
    });
  }

  /** The Redis key that holds `key`'s value in generation `generation`. */
  redisKey(key: string, generation = 0): string {
    return `${this.dataPrefix}${generation}:${key}`;
  }

  /** The Redis key holding the current generation. */
  get generationKey(): string {
    return this.genKey;
  }

  /** True if `key` has an invalidation that has not reached Redis yet. */
  isPending(key: string): boolean {
    return this.pending.has(key) || this.bumpNeededSeq !== undefined;
  }

  stats(): RedisStoreStats {
    return {
      pendingInvalidations: this.pending.size,
      generationBumpPending: this.bumpNeededSeq !== undefined,
      invalidationOverflows: this.counters.overflows,
      generationBumps: this.counters.bumps,
      invalidationsApplied: this.counters.applied,
    };
  }

  get(key: string): Promise<L2GetResult> {
    return this.traced('GET', () => this.doGet(key));
  }

  private async doGet(key: string): Promise<L2GetResult> {
    if (this.closed) return { status: 'error', error: CLOSED_ERROR };
    let applying = false;
    const outcome = await this.call(
      GET_SCRIPT,
      (bump) => {
        // A bump makes every earlier value unreachable, so no per-key delete is needed then.
        applying = !bump && this.pending.has(key);
        return [key, applying ? '1' : '0'];
      },
      () => (applying ? [key] : []),
    );
    if (!outcome.ok) return failed(outcome.error);
    const reply = outcome.reply;
    if (!Array.isArray(reply)) return { status: 'miss' };
    const [json, pttl] = reply as [unknown, unknown];
    if (typeof json !== 'string') return { status: 'miss' };
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      return { status: 'miss' }; // Not ours (or corrupted): never serve it.
    }
    const ttlMs = typeof pttl === 'number' && pttl > 0 ? pttl : undefined;
    return { status: 'hit', value, json, ttlMs };
  }

  /** Stores a JSON-serializable value for `ttlMs` (>= 1 ms, rounded up). */
  set(key: string, value: unknown, ttlMs: number): Promise<L2WriteResult> {
    const json = JSON.stringify(value);
    if (json === undefined) {
      return Promise.reject(new TypeError('RedisStore.set: value is not JSON-serializable'));
    }
    return this.setJson(key, json, ttlMs);
  }

  /** Stores JSON text as is. On failure the key becomes a pending invalidation. */
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
    const outcome = this.closed
      ? ({ ok: false, error: CLOSED_ERROR } as const)
      : await this.call(
          SET_SCRIPT,
          () => [key, json, String(ttl)],
          () => [key],
        );
    if (outcome.ok) return { status: 'ok' };
    // The old value may still be in Redis, and the new one may land late: never trust L2 for
    // this key until a DEL or SET of it is confirmed.
    this.invalidate(key);
    return failed(outcome.error);
  }

  /** Deletes the key. On failure it becomes a pending invalidation (applied later). */
  delete(key: string): Promise<L2WriteResult> {
    return this.traced('DEL', async () => {
      if (this.closed) {
        this.invalidate(key);
        return { status: 'error', error: CLOSED_ERROR };
      }
      const result = await this.deleteKeys([key]);
      if (result.status !== 'ok') this.invalidate(key);
      return result;
    });
  }

  /** Applies pending invalidations now (normally automatic once the breaker is closed). */
  async flushPendingInvalidations(): Promise<void> {
    this.scheduleFlush();
    await this.flushing;
  }

  /** Stops background work, then closes the client if this store owns it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.subscription.dispose();
      await this.flushing;
      if (this.ownsClient) await closeRedisClient(this.client);
    })();
    return this.closing;
  }

  // ------------------------------------------------------------------ internals

  /**
   * DEL of `keys`. The background flush passes `deferBump`: it leaves a pending generation
   * bump to an operation already carrying one (reads and writes always carry it themselves).
   */
  private async deleteKeys(keys: readonly string[], deferBump = false): Promise<L2WriteResult> {
    const outcome = await this.call(
      DEL_SCRIPT,
      () => [...keys],
      () => keys,
      deferBump,
    );
    return outcome.ok ? { status: 'ok' } : failed(outcome.error);
  }

  /**
   * Exactly one breaker call running one script. `args` receives whether this call carries
   * the pending generation bump; `confirms` names the keys a success deleted or overwrote.
   * Bookkeeping happens before the promise settles for the caller.
   */
  private async call(
    s: Script,
    args: (bump: boolean) => string[],
    confirms: () => readonly string[],
    deferBump = false,
  ): Promise<{ ok: true; reply: unknown } | { ok: false; error: unknown }> {
    let sent: { issued: number; bump: boolean } | undefined;
    try {
      const reply = await this.breaker.execute(() => {
        const bump = this.bumpNeededSeq !== undefined && (!deferBump || this.bumpsInFlight === 0);
        if (bump) this.bumpsInFlight++;
        sent = { issued: this.seq, bump };
        return this.eval(s, [bump ? '1' : '0', ...args(bump)]);
      });
      this.confirmed(sent!.issued, sent!.bump, confirms());
      return { ok: true, reply };
    } catch (error) {
      return { ok: false, error };
    } finally {
      if (sent?.bump) this.bumpsInFlight--;
    }
  }

  /** One script call: EVALSHA, falling back to EVAL when Redis does not have it cached. */
  private async eval(s: Script, args: readonly string[]): Promise<unknown> {
    const argv = [this.dataPrefix, ...args];
    try {
      return await this.client.evalsha(s.sha, 1, this.genKey, ...argv);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.client.eval(s.text, 1, this.genKey, ...argv);
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

  private invalidate(key: string): void {
    const seq = ++this.seq;
    this.pending.delete(key);
    this.pending.set(key, seq);
    if (this.pending.size > this.maxPending) {
      // Too many to track: one generation bump covers all of them (and everything else).
      this.pending.clear();
      this.bumpNeededSeq = seq;
      this.counters.overflows++;
    }
  }

  /**
   * An operation sent when `seq` was `issued` succeeded. If it carried a bump, everything
   * invalidated before it is now unreachable; `keys` were deleted or overwritten by it.
   */
  private confirmed(issued: number, bump: boolean, keys: readonly string[]): void {
    if (bump) {
      this.counters.bumps++;
      if (this.bumpNeededSeq !== undefined && this.bumpNeededSeq <= issued) {
        this.bumpNeededSeq = undefined;
      }
      for (const [key, seq] of this.pending) {
        if (seq <= issued) {
          this.pending.delete(key);
          this.counters.applied++;
        }
      }
    }
    for (const key of keys) {
      const seq = this.pending.get(key);
      if (seq !== undefined && seq <= issued) {
        this.pending.delete(key);
        this.counters.applied++;
      }
    }
    if (this.pending.size > 0 || this.bumpNeededSeq !== undefined) {
      queueMicrotask(() => this.scheduleFlush());
    }
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.closed || !this.hasWork()) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
    });
  }

  private hasWork(): boolean {
    return this.pending.size > 0 || this.bumpNeededSeq !== undefined;
  }

  /** Deletes pending keys in batches while the breaker is closed; stops at the first failure. */
  private async flushLoop(): Promise<void> {
    while (!this.closed && this.hasWork() && this.breaker.state === CircuitState.Closed) {
      // Only a bump is left and an operation in flight carries it: its success reschedules.
      if (this.pending.size === 0 && this.bumpsInFlight > 0) return;
      const batch: string[] = [];
      for (const key of this.pending.keys()) {
        batch.push(key);
        if (batch.length >= this.batchSize) break;
      }
      const before = this.pending.size;
      const result = await this.traced('DEL', () => this.deleteKeys(batch, true));
      if (result.status !== 'ok') return;
      // Guard against spinning if every key in the batch was re-invalidated meanwhile.
      if (this.pending.size >= before && this.bumpNeededSeq === undefined) return;
    }
  }
}

type Failed = Exclude<L2WriteResult, { status: 'ok' }>;

function failed(error: unknown): Failed {
  return error instanceof CircuitOpenError
    ? { status: 'skipped', error }
    : { status: 'error', error };
}
