import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import type { TaggedCoherenceListener, TrackerEvent, TrackerOptions } from '../tracking.js';
import { InvalidationTracker } from '../tracking.js';
import { closeRedisClient, createRedisClient, type RedisClientOptions } from '../redis-client.js';
import type { CoherenceSource } from '../cascade-cache.js';
import type { StoreTopology } from '../redis-store.js';
import { nodeKey } from './cluster-client.js';
import type { ShardBreakers } from './shard-breakers.js';
import { SlotCoherence } from './slot-coherence.js';

/**
 * The glue between the cache (redis-store.ts, tracking.ts) and a Redis Cluster:
 *
 * - `clusterTopology`: for each Redis key, the breaker of its shard (ShardBreakers) and the
 *   master that owns its slot now (whose clock stamps its writes, and which answers `TIME`).
 * - `ClusterTracking`: client-side caching per master. Each master gets its own
 *   InvalidationTracker: CLIENT TRACKING BCAST on the Cluster client's own connection to that
 *   master (the one that carries this process's reads and writes of its keys, so NOLOOP
 *   applies), redirected to one subscriber connection per master on `__redis__:invalidate`
 *   (a REDIRECT target must be on the same server). Trackers are created and closed as
 *   masters come and go (slot-map refresh, node added or removed, a failover).
 *
 * Coherence is per slot (slot-coherence.ts): an L1 copy is served as fresh only while the
 * tracker of the master owning its key's slot is coherent; a tracker that (re-)enables
 * tracking (a dropped data or subscriber connection of that master, its restart, a FLUSHALL
 * on it) drops only the L1 copies of the slots that master owns; a slot-map change drops the
 * copies of the slots that changed master (a failover, a reshard). So while one master is
 * down, L1 copies of keys on the other shards stay fresh and are served from L1; the dead
 * shard's keys fall back to a marked L1 copy for at most `fallbackMaxMs` after its tracker
 * lost coherence, or miss. The slot is computed when a copy is stored and kept with it, so an
 * L1 hit does no hashing. Why this is correct, and what it cannot see: slot-coherence.ts.
 */

/** Per-key breaker and clock for RedisStore on a Cluster. */
export function clusterTopology(cluster: Cluster, shards: ShardBreakers): StoreTopology {
  const masterNode = (node: string): Redis | undefined =>
    cluster.nodes('master').find((n) => nodeKey(n) === node);
  return {
    breakerFor: (redisKey) => shards.breakerFor(redisKey),
    nodeOf: (redisKey) => (cluster.slots[calculateSlot(redisKey)] as string[] | undefined)?.[0],
    nodes: () => cluster.nodes('master').map(nodeKey),
    time: async (node) => {
      const redis = masterNode(node);
      if (redis === undefined) throw new Error(`no connection to master ${node}`);
      return (await redis.time()) as [string | number, string | number];
    },
    ready: (node) => masterNode(node)?.status === 'ready',
  };
}

export interface ClusterTrackingOptions {
  cluster: Cluster;
  namespace: string;
  /** The cache (cascade-cache.ts): invalidations, and flushes of the slots of one master. */
  listener: TaggedCoherenceListener;
  /** Settings of the subscriber connections (credentials, TLS, timeouts); no url. */
  subscriber: Omit<RedisClientOptions, 'url' | 'onEvent'>;
  username?: string | undefined;
  password?: string | undefined;
  tls?: boolean;
  tracking?: Partial<Pick<TrackerOptions, 'pingIntervalMs' | 'freshWindowMs' | 'fallbackMaxMs'>>;
  /** Tracker events, with the master they concern. */
  onEvent?: (event: TrackerEvent & { node: string }) => void;
}

interface MasterTracking {
  node: string;
  data: Redis;
  subscriber: Redis;
  tracker: InvalidationTracker;
}

export interface ClusterTrackingStatus {
  tracking: boolean;
  coherent: boolean;
  sinceCoherentMs: number | null;
  /** Per master `host:port`. */
  masters: Record<string, { tracking: boolean; coherent: boolean; sinceCoherentMs: number | null }>;
}

export class ClusterTracking implements CoherenceSource {
  readonly fallbackMaxMs: number;
  private readonly byNode = new Map<string, MasterTracking>();
  private readonly slots: SlotCoherence;
  /** The same trackers as an array: coherent() (the whole cache) iterates it without allocating. */
  private list: InvalidationTracker[] = [];
  private closed = false;
  private readonly sync = (): void => this.update();
  private readonly onNodeAdded = (): void => this.update();

  constructor(private readonly options: ClusterTrackingOptions) {
    this.fallbackMaxMs = options.tracking?.fallbackMaxMs ?? 5_000;
    this.slots = new SlotCoherence(options.listener, options.namespace);
    options.cluster.on('refresh', this.sync);
    options.cluster.on('+node', this.onNodeAdded);
    options.cluster.on('-node', this.onNodeAdded);
    this.update();
  }

  /** The L1 tag of a key: its hash slot (computed when a copy is stored). */
  tagOf(key: string): number {
    return this.slots.tagOf(key);
  }

  /** Copies of this slot are fresh: its master's tracker is coherent (the L1 hit path). */
  coherentTag(slot: number, now?: number): boolean {
    return this.slots.coherentTag(slot, now);
  }

  lastCoherentAtTag(slot: number): number {
    return this.slots.lastCoherentAtTag(slot);
  }

  /** Every master's tracker is coherent (the `breakerbox.cache.tracking` gauge, /health). */
  coherent(now: number = performance.now()): boolean {
    const list = this.list;
    if (list.length === 0) return false;
    for (let i = 0; i < list.length; i++) if (!list[i]!.coherent(now)) return false;
    return true;
  }

  lastCoherentAt(): number {
    if (this.list.length === 0) return -Infinity;
    let min = Infinity;
    for (const t of this.list) min = Math.min(min, t.lastCoherentAt());
    return min;
  }

  get tracking(): boolean {
    return this.list.length > 0 && this.list.every((t) => t.tracking);
  }

  status(): ClusterTrackingStatus {
    const now = performance.now();
    const masters: ClusterTrackingStatus['masters'] = {};
    for (const m of this.byNode.values()) {
      const s = m.tracker.status();
      masters[m.node] = {
        tracking: s.tracking,
        coherent: s.coherent,
        sinceCoherentMs: s.sinceCoherentMs,
      };
    }
    const last = this.lastCoherentAt();
    return {
      tracking: this.tracking,
      coherent: this.coherent(now),
      sinceCoherentMs: Number.isFinite(last) ? Math.max(0, Math.round(now - last)) : null,
      masters,
    };
  }

  /**
   * Trackers of the current masters (created and closed to match `cluster.nodes('master')`),
   * then the slot table (which drops the L1 copies of slots that changed master).
   */
  update(): void {
    if (this.closed) return;
    const current = new Map<string, Redis>();
    for (const node of this.options.cluster.nodes('master')) current.set(nodeKey(node), node);
    for (const [key, m] of this.byNode) {
      if (current.get(key) !== m.data) {
        this.byNode.delete(key);
        this.closeOne(m);
      }
    }
    for (const [key, data] of current) {
      if (!this.byNode.has(key)) this.byNode.set(key, this.open(key, data));
    }
    this.list = [...this.byNode.values()].map((m) => m.tracker);
    const trackers = new Map<string, InvalidationTracker>();
    for (const [key, m] of this.byNode) trackers.set(key, m.tracker);
    this.slots.update(this.options.cluster.slots, trackers);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.cluster.off('refresh', this.sync);
    this.options.cluster.off('+node', this.onNodeAdded);
    this.options.cluster.off('-node', this.onNodeAdded);
    const all = [...this.byNode.values()];
    this.byNode.clear();
    this.list = [];
    await Promise.all(all.map((m) => this.closeOne(m)));
  }

  private open(node: string, data: Redis): MasterTracking {
    const subscriber = createRedisClient({
      ...this.options.subscriber,
      url: this.urlOf(data),
      ioredis: { ...this.options.subscriber.ioredis, autoResubscribe: false },
    });
    const onEvent = this.options.onEvent;
    const tracker = new InvalidationTracker({
      data,
      subscriber,
      namespace: this.options.namespace,
      listener: this.slots.listenerFor(node),
      ...this.options.tracking,
      ...(onEvent === undefined ? {} : { onEvent: (event) => onEvent({ ...event, node }) }),
    });
    return { node, data, subscriber, tracker };
  }

  private closeOne(m: MasterTracking): Promise<void> {
    m.tracker.close();
    return closeRedisClient(m.subscriber);
  }

  private urlOf(data: Redis): string {
    const host = data.options.host ?? '127.0.0.1';
    const port = data.options.port ?? 6379;
    const { username, password, tls } = this.options;
    const user = username === undefined ? '' : encodeURIComponent(username);
    const pass = password === undefined ? '' : `:${encodeURIComponent(password)}`;
    const auth = user !== '' || pass !== '' ? `${user}${pass}@` : '';
    const h = host.includes(':') ? `[${host}]` : host;
    return `${tls === true ? 'rediss' : 'redis'}://${auth}${h}:${port}`;
  }
}
