// What /health says about each dependency: a `status` and a human `reason`, from what the
// service already knows (the Redis client's connection events, the errors its breaker counted,
// the model loader's outcomes), so `/health` turns `degraded` as soon as a dependency is known
// to be down, not only once a breaker has opened.

import type { CircuitBreaker, Disposable } from 'breakerbox';
import type { ShardBreakers, ShardRollUp } from '../dependencies/cache/cluster/shard-breakers.js';
import type { RedisClientEvent } from '../dependencies/cache/redis-client.js';
import type { KindStats } from '../dependencies/embeddings/embedding-service.js';
import type { RateLimitedLog } from './rate-limited-log.js';

/**
 * `up`: working as far as we know. `degraded`: answering, but part of it fails (Redis refusing
 * writes, one of two models). `down`: known not to work. `unknown`: no outcome yet (connecting
 * at start-up, a model not loaded yet): not a reason to call the service degraded.
 */
export type DependencyStatus = 'up' | 'degraded' | 'down' | 'unknown';

export interface DependencyEntry {
  status: DependencyStatus;
  reason: string;
  [detail: string]: unknown;
}

/** True when a status makes the service `degraded`. */
export function isKnownBad(status: DependencyStatus): boolean {
  return status === 'degraded' || status === 'down';
}

/** Redis reply errors that mean "reads work, writes are refused". */
const WRITE_REFUSALS = new Set(['OOM', 'READONLY', 'MISCONF', 'NOREPLICAS']);

/**
 * A short, stable name for a Redis error: the reply's error code (`OOM`, `READONLY`,
 * `WRONGTYPE`, `NOAUTH`), a socket code (`ECONNREFUSED`), `timeout`, or `not_connected`.
 */
export function redisErrorKind(error: unknown): string {
  const kindOf = (e: unknown): string | undefined => {
    if (e === null || typeof e !== 'object') return undefined;
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string' && /^[A-Z_]{3,}$/.test(code)) return code;
    const text = typeof message === 'string' ? message : '';
    const reply = /^([A-Z][A-Z_]{1,})\s/.exec(text);
    if (reply !== null && (name === 'ReplyError' || WRITE_REFUSALS.has(reply[1]!))) return reply[1];
    if (/timed out|timeout/i.test(text)) return 'timeout';
    if (/Stream isn't writeable|Connection is closed|enableOfflineQueue/i.test(text))
      return 'not_connected';
    if (/max retries per request/i.test(text)) return 'connection_lost';
    return undefined;
  };
  const direct = kindOf(error);
  if (direct !== undefined) return direct;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const viaCause = kindOf(cause);
  if (viaCause !== undefined) return viaCause;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? name : 'error';
}

function messageOf(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'message' in error)
    return String((error as { message: unknown }).message);
  return String(error);
}

export interface RedisHealthOptions {
  /** The URL without credentials. */
  displayUrl: string;
  errors: RateLimitedLog;
  /** How long one refused write keeps Redis `degraded`, ms (default 30 000). */
  writeRefusalWindowMs?: number;
  /** Wall-clock ms (default Date.now). */
  wallClock?: () => number;
}

/** What RedisHealth reads of a Redis Cluster L2 (build-cache's ClusterParts). */
export interface ClusterHealthSource {
  shards: ShardBreakers;
  rollUp(): ShardRollUp;
  /** The client's last event for a node: node_ready, node_close, ... */
  nodeConnection(node: string): string | undefined;
}

interface LastError {
  kind: string;
  message: string;
  at: number;
}

/** Follows the Redis client and the `redis_cache` breaker; answers `/health`'s `redis` entry. */
export class RedisHealth {
  private connection = 'connecting';
  private connected = false;
  private everConnected = false;
  private since: number;
  private lastConnectionError: LastError | undefined;
  private lastCommandError: LastError | undefined;
  private lastWriteRefusal: LastError | undefined;
  private writeRefusals = 0;
  private readonly wallClock: () => number;
  private readonly windowMs: number;
  private breaker: CircuitBreaker | undefined;
  private subscription: { dispose(): void } | undefined;
  private cluster: ClusterHealthSource | undefined;
  private shardSubscriptions: Disposable[] = [];
  private mapSubscription: Disposable | undefined;

  constructor(private readonly options: RedisHealthOptions) {
    this.wallClock = options.wallClock ?? Date.now;
    this.windowMs = options.writeRefusalWindowMs ?? 30_000;
    this.since = this.wallClock();
  }

  /** Follows the `redis_cache` breaker: the errors it counts, and whether it is open. */
  watch(breaker: CircuitBreaker): void {
    this.subscription?.dispose();
    this.breaker = breaker;
    this.subscription = breaker.onFailure((event) => this.onCommandFailure(event.error));
  }

  /**
   * On a cluster: follows every shard breaker's failures (as the slot map changes) and adds a
   * `shards` entry; Redis is `degraded` while any shard breaker is not closed or any master's
   * connection is down, `down` only when every shard is (the roll-up is open).
   */
  watchCluster(cluster: ClusterHealthSource): void {
    this.cluster = cluster;
    const resubscribe = (): void => {
      for (const s of this.shardSubscriptions) s.dispose();
      this.shardSubscriptions = cluster.shards
        .breakers()
        .map((b) => b.onFailure((event) => this.onCommandFailure(event.error, b.name)));
    };
    this.mapSubscription?.dispose();
    this.mapSubscription = cluster.shards.onMapChange(resubscribe);
    resubscribe();
  }

  /** The Redis client's `onEvent` hook. */
  onClientEvent(event: RedisClientEvent): void {
    const now = this.wallClock();
    this.connection = event.type;
    switch (event.type) {
      case 'ready':
        if (!this.connected) this.since = now;
        this.connected = true;
        this.everConnected = true;
        break;
      case 'connect':
        break;
      case 'error': {
        const kind = `connection:${event.code ?? redisErrorKind({ message: event.message })}`;
        const message = this.options.errors.redact(event.message);
        this.lastConnectionError = { kind, message, at: now };
        // An error while connected is followed by 'close'; it does not mean down by itself.
        this.options.errors.report({
          dependency: 'redis',
          kind,
          message,
          fields: { redis: this.options.displayUrl, connection: this.connection },
        });
        break;
      }
      default:
        // close, end, reconnecting
        if (this.connected) this.since = now;
        this.connected = false;
    }
  }

  private onCommandFailure(error: unknown, breakerName?: string): void {
    const kind = redisErrorKind(error);
    const message = this.options.errors.redact(messageOf(error));
    const now = this.wallClock();
    this.lastCommandError = { kind, message, at: now };
    if (WRITE_REFUSALS.has(kind)) {
      this.lastWriteRefusal = this.lastCommandError;
      this.writeRefusals++;
    }
    this.options.errors.report({
      dependency: 'redis',
      kind: `command:${kind}`,
      message,
      fields: { redis: this.options.displayUrl, breaker: breakerName ?? this.breaker?.name },
    });
  }

  entry(): DependencyEntry {
    const now = this.wallClock();
    const iso = (ms: number): string => new Date(ms).toISOString();
    const lastError = [this.lastConnectionError, this.lastCommandError]
      .filter((e): e is LastError => e !== undefined)
      .sort((a, b) => b.at - a.at)[0];
    let status: DependencyStatus;
    let reason: string;
    const breaker = this.breaker;
    if (!this.connected && (this.everConnected || this.lastConnectionError !== undefined)) {
      status = 'down';
      const cause = this.lastConnectionError?.message;
      reason =
        `not connected to Redis since ${iso(this.since)} (${this.connection})` +
        (cause === undefined ? '' : `: ${cause}`);
    } else if (!this.connected) {
      status = 'unknown';
      reason = 'connecting: no answer from Redis yet';
    } else if (breaker?.state === 'open') {
      status = 'down';
      reason =
        `circuit ${breaker.name} is open` +
        (lastError === undefined ? '' : `: last error ${lastError.kind}: ${lastError.message}`);
    } else if (
      this.lastWriteRefusal !== undefined &&
      now - this.lastWriteRefusal.at < this.windowMs
    ) {
      status = 'degraded';
      reason = `Redis is refusing writes (${this.lastWriteRefusal.kind}, last at ${iso(this.lastWriteRefusal.at)}): ${this.lastWriteRefusal.message}`;
    } else {
      status = 'up';
      reason = `connected since ${iso(this.since)}`;
    }
    let shards: Record<string, unknown> | undefined;
    if (this.cluster !== undefined) {
      shards = {};
      const bad: string[] = [];
      for (const shard of this.cluster.shards.shards()) {
        const conn = this.cluster.nodeConnection(shard.master) ?? 'connecting';
        const state = shard.breaker.state;
        let s: DependencyStatus = 'up';
        let r = `master ${shard.master}, ${shard.slotCount} slots`;
        if (state === 'open') {
          s = 'down';
          r = `circuit ${shard.name} is open (master ${shard.master}: ${conn})`;
        } else if (conn === 'node_close' || state === 'half_open') {
          s = 'down';
          r = `master ${shard.master} not connected (${conn}), circuit ${shard.name} ${state}`;
        }
        if (s !== 'up') bad.push(shard.name);
        shards[shard.name] = {
          status: s,
          reason: r,
          state,
          master: shard.master,
          nodes: shard.nodes,
          slots: shard.slotCount,
        };
      }
      const rollUp = this.cluster.rollUp();
      if (status === 'up' && bad.length > 0) {
        status = 'degraded';
        reason = `${bad.length} of ${Object.keys(shards).length} shards not serving: ${bad.join(', ')}`;
      } else if (status === 'up' && rollUp.state !== 'closed') {
        status = 'down';
        reason = rollUp.reason;
      }
    }
    return {
      status,
      reason,
      ...(shards === undefined ? {} : { shards }),
      url: this.options.displayUrl,
      connection: this.connection,
      last_error:
        lastError === undefined
          ? null
          : { kind: lastError.kind, message: lastError.message, at: iso(lastError.at) },
      write_refusals: this.writeRefusals,
    };
  }

  dispose(): void {
    this.subscription?.dispose();
    this.mapSubscription?.dispose();
    for (const s of this.shardSubscriptions) s.dispose();
  }
}

/** `/health`'s `embeddings` entry: one status for both models, and one per model. */
export function embeddingsEntry(stats: Record<string, KindStats>): DependencyEntry {
  const kinds: Record<string, KindStats & { status: DependencyStatus; reason: string }> = {};
  for (const [kind, s] of Object.entries(stats)) {
    let status: DependencyStatus;
    let reason: string;
    if (s.loaded) {
      status = 'up';
      reason = `${kind} model ${s.model} loaded`;
    } else if (s.lastLoadError !== null) {
      status = 'down';
      reason = `${kind} model ${s.model} failed to load (${s.lastLoadError.reason}): ${s.lastLoadError.message}`;
    } else if (s.loading) {
      status = 'unknown';
      reason = `${kind} model ${s.model} is loading`;
    } else {
      status = 'unknown';
      reason = `${kind} model ${s.model} not loaded yet (loads on first use)`;
    }
    kinds[kind] = { ...s, status, reason };
  }
  const all = Object.values(kinds);
  const down = all.filter((k) => k.status === 'down');
  let status: DependencyStatus;
  if (down.length > 0 && down.length === all.length) status = 'down';
  else if (down.length > 0) status = 'degraded';
  else if (all.length > 0 && all.every((k) => k.status === 'up')) status = 'up';
  else status = all.some((k) => k.status === 'up') ? 'up' : 'unknown';
  const reason =
    down.length > 0 ? down.map((k) => k.reason).join('; ') : all.map((k) => k.reason).join('; ');
  return { status, reason, ...kinds };
}
