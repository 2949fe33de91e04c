import type {
  CircuitBreaker,
  CircuitBreakerOptions,
  CircuitState,
  Disposable,
  Event,
} from 'breakerbox';
import calculateSlot from 'cluster-key-slot';
import type { BreakerFactory } from '../../../composition/service-breakers.js';
import type { BreakerSettings } from '../../../config/config.js';

/**
 * One circuit breaker per Redis Cluster shard (a master and its replicas), named
 * `redis_cache:<shard>`, created and retired as the client's slot map changes.
 *
 * **Shard id.** A shard is the set of slots one master serves; its id is the lowest slot of
 * that set (`redis_cache:0`, `redis_cache:5461`, `redis_cache:10923` for a fresh three-master
 * cluster). A failover moves a master's whole slot set to its promoted replica, so the id, and
 * the breaker with its state and counters, survive it. Only resharding can change ids: a
 * shard whose lowest slot moves away gets a new id (its old breaker is retired and a new one
 * created), and an id that ends up naming a different replication group gets a fresh breaker,
 * never the old group's state. An id keeps its breaker while its master is the same node, or
 * after a failover: the new master served no slots in the previous map and the old master
 * serves none in the new one (a reshard onto a new, empty master leaves the old master with
 * slots, so it is not mistaken for a failover).
 *
 * **Hot path.** `breakerFor(key)` is one CRC16 (cluster-key-slot, the function ioredis uses
 * to route) and one array read: a 16384-entry slot -> breaker table rebuilt on each change.
 * It returns undefined for a slot no master serves (no slot map yet, or an uncovered slot):
 * the caller then has no shard to guard with (ioredis fails such a command at once).
 *
 * **Source.** The slot map is ioredis' own (`cluster.slots`: per slot, the `host:port` of its
 * master then replicas), re-read on every 'refresh' event (periodic, after a MOVED, after a
 * node connection drops: see cluster-client.ts). `update()` re-reads it on demand.
 *
 * Shard breakers are never critical by themselves (the factory makes a breaker critical only
 * when CRITICAL_CIRCUITS names it, and it accepts only `redis_cache`): one shard down must not
 * fail /health/ready. The parent `redis_cache` is the roll-up, see rollUpShardStates().
 */

export const SHARD_BREAKER_SEPARATOR = ':';
export const CLUSTER_SLOT_COUNT = 16_384;

/** What ShardBreakers reads: an ioredis `Cluster` satisfies it. */
export interface SlotMapSource {
  /** Per slot, node keys (`host:port`): the master first, then replicas. */
  readonly slots: ReadonlyArray<readonly string[] | undefined>;
  on(event: 'refresh', listener: () => void): unknown;
  off(event: 'refresh', listener: () => void): unknown;
}

export type SlotRange = readonly [first: number, last: number];

export interface Shard {
  /** The lowest slot the shard serves. */
  readonly id: number;
  /** `redis_cache:<id>`. */
  readonly name: string;
  readonly ranges: readonly SlotRange[];
  readonly slotCount: number;
  /** `host:port` of the master serving it now. */
  readonly master: string;
  /** `host:port` of every node the slot map lists for it (master first). */
  readonly nodes: readonly string[];
  readonly breaker: CircuitBreaker;
}

export interface ShardMapChange {
  /** Shards that got a new breaker. */
  readonly added: readonly Shard[];
  /** Breakers disposed and unregistered (their shard is gone, or its id changed hands). */
  readonly retired: readonly { id: number; name: string }[];
  /** Shards that kept their breaker but changed master, nodes or slots (e.g. a failover). */
  readonly changed: readonly Shard[];
}

export interface ShardBreakersOptions {
  cluster: SlotMapSource;
  factory: BreakerFactory;
  /** The service's Redis breaker settings (REDIS_CIRCUIT_*), used for every shard. */
  settings: BreakerSettings;
  /** Passed to the factory for every shard breaker (e.g. `isFailure`). */
  breakerOptions?: Pick<CircuitBreakerOptions, 'halfOpenMaxWait' | 'isFailure' | 'failureRate'>;
  /** Parent name; shard breakers are `<parent>:<id>`. Default `redis_cache`. */
  parentName?: string;
}

/** `redis_cache:5461` -> 5461; undefined when the name is not a shard breaker of `parent`. */
export function shardIdOf(name: string, parentName = 'redis_cache'): number | undefined {
  const prefix = parentName + SHARD_BREAKER_SEPARATOR;
  if (!name.startsWith(prefix)) return undefined;
  const text = name.slice(prefix.length);
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const id = Number(text);
  return id < CLUSTER_SLOT_COUNT ? id : undefined;
}

interface Group {
  master: string;
  id: number;
  ranges: SlotRange[];
  slotCount: number;
  nodes: Set<string>;
}

/** Groups slots by master (exported for tests): one entry per master, by lowest slot. */
export function shardsOfSlotMap(
  slots: ReadonlyArray<readonly string[] | undefined>,
): Array<Omit<Shard, 'name' | 'breaker'>> {
  const groups = new Map<string, Group>();
  let open: { group: Group; first: number } | undefined;
  let last = -1;
  const closeRange = (): void => {
    if (open !== undefined) open.group.ranges.push([open.first, last]);
    open = undefined;
  };
  for (let slot = 0; slot < CLUSTER_SLOT_COUNT; slot++) {
    const owners = slots[slot];
    const master = owners?.[0];
    if (master === undefined) {
      closeRange();
      continue;
    }
    let group = groups.get(master);
    if (group === undefined) {
      group = { master, id: slot, ranges: [], slotCount: 0, nodes: new Set([master]) };
      groups.set(master, group);
    }
    for (const node of owners!) group.nodes.add(node);
    group.slotCount++;
    if (open === undefined || open.group !== group) {
      closeRange();
      open = { group, first: slot };
    }
    last = slot;
  }
  closeRange();
  return [...groups.values()]
    .sort((a, b) => a.id - b.id)
    .map((g) => ({
      id: g.id,
      ranges: g.ranges,
      slotCount: g.slotCount,
      master: g.master,
      nodes: [g.master, ...[...g.nodes].filter((n) => n !== g.master)],
    }));
}

export class ShardBreakers implements Disposable {
  private readonly parentName: string;
  private byId = new Map<number, Shard>();
  /** slot -> breaker of the shard serving it (undefined: no shard). */
  private readonly table: Array<CircuitBreaker | undefined> = new Array(CLUSTER_SLOT_COUNT).fill(
    undefined,
  );
  private readonly idTable = new Int32Array(CLUSTER_SLOT_COUNT).fill(-1);
  private readonly listener = (): void => {
    this.update();
  };
  private disposed = false;
  private mapListeners: Array<(change: ShardMapChange) => void> = [];

  /**
   * Fires after each change of the shard map (not on refreshes that change nothing), after
   * the lookup tables are rebuilt: breakers to subscribe to or forget.
   */
  readonly onMapChange: Event<ShardMapChange> = (listener) => {
    this.mapListeners = [...this.mapListeners, listener];
    return {
      dispose: () => {
        this.mapListeners = this.mapListeners.filter((l) => l !== listener);
      },
    };
  };

  constructor(private readonly options: ShardBreakersOptions) {
    this.parentName = options.parentName ?? 'redis_cache';
    options.cluster.on('refresh', this.listener);
    this.update();
  }

  /** The breaker guarding `key` (its shard's), or undefined when no shard serves its slot. */
  breakerFor(key: string | Buffer): CircuitBreaker | undefined {
    return this.table[calculateSlot(key)];
  }

  breakerForSlot(slot: number): CircuitBreaker | undefined {
    return this.table[slot];
  }

  /** The shard id (lowest slot) serving `key`, or undefined. */
  shardIdFor(key: string | Buffer): number | undefined {
    const id = this.idTable[calculateSlot(key)]!;
    return id < 0 ? undefined : id;
  }

  shard(id: number): Shard | undefined {
    return this.byId.get(id);
  }

  /** Current shards, by id. */
  shards(): Shard[] {
    return [...this.byId.values()];
  }

  breakers(): CircuitBreaker[] {
    return this.shards().map((s) => s.breaker);
  }

  /** The roll-up for the parent breaker (see rollUpShardStates). */
  rollUp(): ShardRollUp {
    return rollUpShardStates(
      this.breakers().map((b) => ({ name: b.name, state: b.state })),
      this.parentName,
    );
  }

  /** Manual control fanned out to every shard (for the admin routes on the parent name). */
  resetAll(): void {
    for (const b of this.breakers()) b.reset();
  }
  isolateAll(): void {
    for (const b of this.breakers()) b.isolate();
  }
  disableAll(): void {
    for (const b of this.breakers()) b.disable();
  }

  /**
   * Re-reads the slot map; creates, keeps or retires breakers; rebuilds the lookup tables.
   * A map with no slot assigned at all (never loaded) changes nothing. Returns the change, or
   * undefined if nothing changed.
   */
  update(): ShardMapChange | undefined {
    if (this.disposed) return undefined;
    const next = shardsOfSlotMap(this.options.cluster.slots);
    if (next.length === 0) return undefined;

    const added: Shard[] = [];
    const changed: Shard[] = [];
    const retired: { id: number; name: string }[] = [];
    const byId = new Map<number, Shard>();
    const previousMasters = new Set([...this.byId.values()].map((s) => s.master));
    const nextMasters = new Set(next.map((s) => s.master));
    for (const candidate of next) {
      const previous = this.byId.get(candidate.id);
      // Same replication group: the same master, or a failover (the new master served no
      // slots before, and the old one serves none now). Replica lists are not used: CLUSTER
      // SLOTS does not always list replicas (Redis omits some, e.g. while they sync).
      const sameGroup =
        previous !== undefined &&
        (previous.master === candidate.master ||
          (!previousMasters.has(candidate.master) && !nextMasters.has(previous.master)));
      if (previous !== undefined && sameGroup) {
        const shard: Shard = { ...candidate, name: previous.name, breaker: previous.breaker };
        if (!sameShape(previous, shard)) changed.push(shard);
        byId.set(shard.id, shard);
        continue;
      }
      if (previous !== undefined) {
        // The id now names another replication group: its state must not carry over.
        previous.breaker.dispose();
        retired.push({ id: previous.id, name: previous.name });
      }
      const name = `${this.parentName}${SHARD_BREAKER_SEPARATOR}${candidate.id}`;
      const breaker = this.options.factory(
        name,
        this.options.settings,
        this.options.breakerOptions,
      );
      const shard: Shard = { ...candidate, name, breaker };
      added.push(shard);
      byId.set(shard.id, shard);
    }
    for (const previous of this.byId.values()) {
      if (!byId.has(previous.id)) {
        previous.breaker.dispose();
        retired.push({ id: previous.id, name: previous.name });
      }
    }
    this.byId = byId;
    if (added.length === 0 && retired.length === 0 && changed.length === 0) return undefined;

    this.table.fill(undefined);
    this.idTable.fill(-1);
    for (const shard of byId.values()) {
      for (const [first, last] of shard.ranges) {
        this.table.fill(shard.breaker, first, last + 1);
        this.idTable.fill(shard.id, first, last + 1);
      }
    }
    const change: ShardMapChange = { added, retired, changed };
    for (const listener of this.mapListeners) {
      try {
        listener(change);
      } catch {
        // A faulty observer must not break the slot-map update.
      }
    }
    return change;
  }

  /** Stops following the slot map and disposes (unregisters) every shard breaker. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.options.cluster.off('refresh', this.listener);
    this.mapListeners = [];
    for (const shard of this.byId.values()) shard.breaker.dispose();
    this.byId = new Map();
    this.table.fill(undefined);
    this.idTable.fill(-1);
  }
}

function sameShape(a: Shard, b: Shard): boolean {
  return (
    a.master === b.master &&
    a.slotCount === b.slotCount &&
    a.nodes.length === b.nodes.length &&
    a.nodes.every((n, i) => b.nodes[i] === n) &&
    a.ranges.length === b.ranges.length &&
    a.ranges.every(([x, y], i) => b.ranges[i]![0] === x && b.ranges[i]![1] === y)
  );
}

// ------------------------------------------------------------------------------- roll-up

export interface ShardRollUp {
  /**
   * The state of the cache as a whole (`redis_cache`):
   * - `open` while every shard breaker is open (or there is no shard: no slot map, nothing
   *   can reach Redis): every request skips Redis;
   * - `half_open` while none is closed and at least one is half-open (probing);
   * - `closed` while at least one shard breaker is closed: Redis serves some keys. Shards that
   *   are open are listed, and health is `degraded` because those breakers are not closed.
   */
  state: CircuitState;
  /** One line for health's `dependencies.redis_cache.reason` and logs. */
  reason: string;
  closed: string[];
  open: string[];
  halfOpen: string[];
}

/** Rolls shard breaker states up into the parent's (see ShardRollUp for the meaning). */
export function rollUpShardStates(
  shards: ReadonlyArray<{ name: string; state: CircuitState }>,
  parentName = 'redis_cache',
): ShardRollUp {
  const closed: string[] = [];
  const open: string[] = [];
  const halfOpen: string[] = [];
  for (const s of shards) {
    if (s.state === 'closed') closed.push(s.name);
    else if (s.state === 'open') open.push(s.name);
    else halfOpen.push(s.name);
  }
  const total = shards.length;
  const list = (names: string[]): string => names.join(', ');
  if (total === 0) {
    return {
      state: 'open',
      reason: `${parentName}: no slot map yet (the cluster has not been reached)`,
      closed,
      open,
      halfOpen,
    };
  }
  if (closed.length === total) {
    return { state: 'closed', reason: `all ${total} shards closed`, closed, open, halfOpen };
  }
  if (closed.length > 0) {
    const notClosed = [...open, ...halfOpen];
    return {
      state: 'closed',
      reason: `${notClosed.length} of ${total} shards not closed: ${list(notClosed)}`,
      closed,
      open,
      halfOpen,
    };
  }
  if (halfOpen.length > 0) {
    return {
      state: 'half_open',
      reason: `no shard closed; probing ${list(halfOpen)}`,
      closed,
      open,
      halfOpen,
    };
  }
  return { state: 'open', reason: `all ${total} shards open`, closed, open, halfOpen };
}

/**
 * Keeps a real `redis_cache` breaker (in the registry, so /health, /v1/circuit-breakers,
 * metrics and existing alerts see it) in line with the roll-up, through the breaker's manual
 * controls: `isolate()` while the roll-up is open or half-open (a registry breaker cannot be
 * put in half_open from outside; `rollUp().state` has the precise value), `reset()` when it is
 * closed again. The parent guards no call itself; its `critical` flag (CRITICAL_CIRCUITS)
 * therefore fails /health/ready only when every shard is open.
 *
 * It resets the parent only if it isolated it itself, so an operator's manual open of the
 * parent sticks (but prefer fanning admin actions out with resetAll/isolateAll/disableAll).
 * Re-evaluates on every shard state change and slot-map change. Dispose to stop.
 */
export function mirrorRollUp(
  parent: CircuitBreaker,
  shards: ShardBreakers,
): Disposable & { readonly current: ShardRollUp } {
  let subscriptions: Disposable[] = [];
  let isolatedByMirror = false;
  let current = shards.rollUp();
  const evaluate = (): void => {
    current = shards.rollUp();
    if (current.state === 'closed') {
      if (isolatedByMirror && parent.mode === 'isolated') parent.reset();
      isolatedByMirror = false;
    } else if (parent.mode !== 'isolated') {
      parent.isolate();
      isolatedByMirror = true;
    }
  };
  const resubscribe = (): void => {
    for (const s of subscriptions) s.dispose();
    subscriptions = shards.breakers().map((b) => b.onStateChange(evaluate));
    evaluate();
  };
  const mapSubscription = shards.onMapChange(resubscribe);
  resubscribe();
  return {
    get current() {
      return current;
    },
    dispose() {
      mapSubscription.dispose();
      for (const s of subscriptions) s.dispose();
      subscriptions = [];
    },
  };
}
