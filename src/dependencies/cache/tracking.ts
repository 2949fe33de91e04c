import type { Redis } from 'ioredis';

/**
 * Server-assisted client-side caching: Redis tells this process which keys changed, so the
 * L1 copies of every replica stay coherent with Redis.
 *
 * Mode: `CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <namespace> NOLOOP` on the data
 * connection, with invalidations redirected to a second connection subscribed to
 * `__redis__:invalidate` (ioredis speaks RESP2, where invalidations can only arrive on a
 * redirect connection). BCAST rather than the default (per-key) mode: the server keeps no
 * per-client table of keys read (which it would trim under memory pressure, and lose on every
 * reconnect), and every write, delete, expiry or eviction under the prefix is announced no
 * matter which connection read the key. NOLOOP: this process's own writes are not echoed back
 * (it updates its L1 itself, in order).
 *
 * Freshness is proven, not assumed: the invalidation connection is PINGed every
 * `pingIntervalMs`, and a PONG arrives after every invalidation Redis sent before it executed
 * that PING (one connection, in order). L1 may serve a copy as fresh only if tracking is on
 * and the last answered PING was sent at most `freshWindowMs` ago (and after tracking was
 * enabled): then every write Redis executed more than `freshWindowMs` ago has already been
 * applied to L1. Otherwise L1 is "not coherent" and the cache must ask Redis.
 *
 * L1 is flushed when tracking is (re-)enabled after either connection dropped (a dropped data
 * connection loses its tracking and does not tell the redirect connection; a dropped redirect
 * connection loses the messages in between), when a FLUSHALL/FLUSHDB arrives (a null
 * invalidation) and when Redis restarted (a new run_id: cause `redis_restart`). While
 * coherence is not proven, L1 answers only as a marked fallback (cascade-cache.ts), for at
 * most `fallbackMaxMs`.
 */

/**
 * Why L1 copies were dropped: tracking (re-)enabled after a dropped connection, a new Redis
 * run_id, a FLUSHALL/FLUSHDB, or (Redis Cluster only) slots that moved to another master.
 */
export type FlushCause = 'reconnect' | 'redis_restart' | 'flushall' | 'slot_map';

export interface CoherenceListener {
  /** One key (without the namespace) changed in Redis. */
  invalidate(key: string): void;
  /** Every L1 copy this tracker vouches for must go. */
  flush(cause: FlushCause): void;
}

/** A listener whose L1 copies carry tags (cascade-cache.ts), so it can drop some only. */
export interface TaggedCoherenceListener extends CoherenceListener {
  /** Drops the L1 copies whose tag `matches`. */
  flushTagged(matches: (tag: number) => boolean, cause: FlushCause): void;
}

export interface TrackerOptions {
  /** The data connection (the one whose reads fill L1). */
  data: Redis;
  /** A separate connection for `__redis__:invalidate` (autoResubscribe off; this owns it). */
  subscriber: Redis;
  namespace: string;
  listener: CoherenceListener;
  /** Default 25 ms. */
  pingIntervalMs?: number;
  /** Default 80 ms (under the contract's 100 ms). */
  freshWindowMs?: number;
  /** How long a PING may stay unanswered before the connection is replaced. Default 1 500 ms. */
  silenceMs?: number;
  /** Longest time L1 copies are served as a marked fallback after coherence was lost. 5 s. */
  fallbackMaxMs?: number;
  /** Hook for connection-level events (logging). */
  onEvent?: (event: TrackerEvent) => void;
  now?: () => number;
}

export type TrackerEvent =
  | { type: 'tracking_on'; cause: FlushCause; runId: string | undefined }
  | { type: 'tracking_off'; reason: string }
  | { type: 'tracking_error'; message: string };

export interface TrackerStatus {
  /** Tracking is on for the current connections. */
  tracking: boolean;
  /** L1 is provably coherent right now. */
  coherent: boolean;
  /** Milliseconds since coherence was last proven (null: never). */
  sinceCoherentMs: number | null;
  runId: string | undefined;
}

const CHANNEL = '__redis__:invalidate';

export class InvalidationTracker {
  readonly namespace: string;
  readonly fallbackMaxMs: number;
  readonly freshWindowMs: number;
  private readonly data: Redis;
  private readonly sub: Redis;
  private readonly listener: CoherenceListener;
  private readonly now: () => number;
  private readonly onEvent: ((event: TrackerEvent) => void) | undefined;
  private readonly silenceMs: number;
  private readonly prefixBytes: number;
  private dataGen = 0;
  private subGen = 0;
  private subId: string | undefined;
  private trackingOn = false;
  private enabledAt = -Infinity;
  private lastAckedPing = -Infinity;
  private oldestUnanswered: number | undefined;
  private inFlightPings = 0;
  private runId: string | undefined;
  private enabling = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly detach: Array<() => void> = [];
  readonly counters = { invalidations: 0, enables: 0 };

  constructor(options: TrackerOptions) {
    this.data = options.data;
    this.sub = options.subscriber;
    this.namespace = options.namespace;
    this.prefixBytes = Buffer.byteLength(this.namespace);
    this.listener = options.listener;
    this.now = options.now ?? (() => performance.now());
    this.onEvent = options.onEvent;
    this.freshWindowMs = options.freshWindowMs ?? 80;
    this.silenceMs = options.silenceMs ?? 1_500;
    this.fallbackMaxMs = options.fallbackMaxMs ?? 5_000;

    this.on(this.data, 'ready', () => this.enable());
    this.on(this.data, 'close', () => {
      this.dataGen++;
      this.off('data connection closed');
    });
    this.on(this.sub, 'ready', () => void this.subscribe());
    this.on(this.sub, 'close', () => {
      this.subGen++;
      this.subId = undefined;
      this.inFlightPings = 0;
      this.oldestUnanswered = undefined;
      this.off('invalidation connection closed');
    });
    this.on(this.sub, 'messageBuffer', (channel: Buffer, payload: unknown) =>
      this.onMessage(channel, payload),
    );
    this.timer = setInterval(() => this.tick(), options.pingIntervalMs ?? 25);
    this.timer.unref();
    if (this.sub.status === 'ready') void this.subscribe();
    if (this.data.status === 'ready') this.enable();
  }

  /** L1 copies may be served as fresh at time `now`. The L1 hit path: no allocation. */
  coherent(now: number = this.now()): boolean {
    return (
      this.trackingOn &&
      this.lastAckedPing >= this.enabledAt &&
      now - this.lastAckedPing <= this.freshWindowMs
    );
  }

  get tracking(): boolean {
    return this.trackingOn;
  }

  status(): TrackerStatus {
    const now = this.now();
    const last = this.lastCoherentAt();
    return {
      tracking: this.trackingOn,
      coherent: this.coherent(now),
      sinceCoherentMs: Number.isFinite(last) ? Math.max(0, Math.round(now - last)) : null,
      runId: this.runId,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.retry !== undefined) clearTimeout(this.retry);
    for (const d of this.detach) d();
    this.trackingOn = false;
  }

  // ------------------------------------------------------------------ internals

  /** Until when L1 was provably coherent (-Infinity: never). */
  lastCoherentAt(): number {
    if (!this.trackingOn || this.lastAckedPing < this.enabledAt) return this.lostAt;
    return Math.max(this.lostAt, this.lastAckedPing + this.freshWindowMs);
  }

  /** When coherence was last proven before tracking went off. */
  private lostAt = -Infinity;

  private on(emitter: Redis, event: string, fn: (...args: never[]) => void): void {
    const handler = fn as (...args: unknown[]) => void;
    emitter.on(event, handler);
    this.detach.push(() => emitter.off(event, handler));
  }

  private off(reason: string): void {
    if (this.trackingOn) {
      if (this.lastAckedPing >= this.enabledAt) {
        this.lostAt = Math.max(this.lostAt, this.lastAckedPing + this.freshWindowMs);
      }
      this.trackingOn = false;
      this.emit({ type: 'tracking_off', reason });
    }
  }

  private async subscribe(): Promise<void> {
    const gen = this.subGen;
    try {
      const id = (await this.sub.call('CLIENT', 'ID')) as number | string;
      await this.sub.subscribe(CHANNEL);
      if (gen !== this.subGen || this.closed) return;
      this.subId = String(id);
      this.enable();
    } catch (error) {
      if (gen !== this.subGen || this.closed) return;
      this.emit({ type: 'tracking_error', message: messageOf(error) });
      // Start over on a new connection: subscribe state is unknown now.
      this.sub.disconnect(true);
    }
  }

  /** Turns tracking on for the current pair of connections, then flushes L1. */
  private enable(): void {
    if (this.enabling || this.closed || this.trackingOn) return;
    if (this.data.status !== 'ready' || this.subId === undefined) return;
    this.enabling = true;
    void this.doEnable().finally(() => {
      this.enabling = false;
    });
  }

  private async doEnable(): Promise<void> {
    const dataGen = this.dataGen;
    const subGen = this.subGen;
    const subId = this.subId!;
    try {
      const info = (await this.data.call('INFO', 'server')) as string;
      const runId = /^run_id:(\w+)/m.exec(info)?.[1];
      await this.data.call('CLIENT', 'TRACKING', 'OFF');
      await this.data.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        subId,
        'BCAST',
        'PREFIX',
        this.namespace,
        'NOLOOP',
      );
      if (this.closed) return;
      if (dataGen !== this.dataGen || subGen !== this.subGen) {
        this.scheduleRetry(0);
        return;
      }
      const cause: FlushCause =
        this.runId !== undefined && runId !== undefined && runId !== this.runId
          ? 'redis_restart'
          : 'reconnect';
      this.runId = runId ?? this.runId;
      // Everything L1 holds may have missed invalidations while tracking was off.
      this.listener.flush(cause);
      this.trackingOn = true;
      this.enabledAt = this.now();
      this.counters.enables++;
      this.emit({ type: 'tracking_on', cause, runId });
    } catch (error) {
      if (this.closed) return;
      this.emit({ type: 'tracking_error', message: messageOf(error) });
      this.scheduleRetry(200);
    }
  }

  private scheduleRetry(ms: number): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.enable();
    }, ms);
    this.retry.unref();
  }

  private tick(): void {
    const now = this.now();
    if (this.subId === undefined || this.sub.status !== 'ready') return;
    if (this.oldestUnanswered !== undefined && now - this.oldestUnanswered > this.silenceMs) {
      // Silent: replace the connection (its 'close' turns tracking off).
      this.oldestUnanswered = undefined;
      this.sub.disconnect(true);
      return;
    }
    if (this.inFlightPings >= 4) return;
    const gen = this.subGen;
    const sent = now;
    this.inFlightPings++;
    this.oldestUnanswered ??= sent;
    this.sub.ping().then(
      () => {
        if (gen !== this.subGen) return;
        this.inFlightPings--;
        if (sent > this.lastAckedPing) this.lastAckedPing = sent;
        // Answers come in order: the ones still pending were sent after this one.
        this.oldestUnanswered = this.inFlightPings === 0 ? undefined : sent;
      },
      () => {
        if (gen === this.subGen) this.inFlightPings--;
      },
    );
    // If a data-connection failure goes unnoticed, a re-enable attempt is the repair.
    if (!this.trackingOn) this.enable();
  }

  private onMessage(channel: Buffer, payload: unknown): void {
    if (channel.toString() !== CHANNEL) return;
    if (payload === null || payload === undefined) {
      this.listener.flush('flushall');
      return;
    }
    const keys = Array.isArray(payload) ? (payload as unknown[]) : [payload];
    for (const raw of keys) {
      if (!Buffer.isBuffer(raw)) continue;
      this.counters.invalidations++;
      if (raw.length < this.prefixBytes) continue;
      this.listener.invalidate(raw.toString('utf8', this.prefixBytes));
    }
  }

  private emit(event: TrackerEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // A broken hook must not break tracking.
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
