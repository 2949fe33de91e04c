import type { BreakerRegistry, CircuitBreakerSnapshot, CircuitState } from 'breakerbox';

/**
 * Breakers that belong to a parent (on a Redis Cluster: the `redis_cache:<shard>` breakers of
 * `redis_cache`), as operators see them: each child names its parent, and the parent carries
 * a compact summary of its children, so a list of 3 or 16 shards reads as one cache with
 * shards rather than as peers of every other breaker. The engine knows nothing of this (a
 * registry is a flat set of names); the service says which breakers are grouped.
 */

/** What a child breaker adds to its snapshot. */
export interface ChildInfo {
  /** The parent breaker's name (`redis_cache`). */
  parent: string;
  /** The child's id within the parent (the shard id: the lowest slot it serves). */
  shard: number;
  /** `host:port` of the node behind it now (the shard's master). */
  master: string;
  /** How many hash slots it serves. */
  slots: number;
}

/** What a parent adds to its snapshot: its children, counted by state. */
export interface ChildrenSummary {
  total: number;
  closed: number;
  open: number;
  half_open: number;
  /** Names of the children that are not closed, by shard id. */
  not_closed: string[];
  /** The parent's state as a roll-up of its children (exact, unlike an isolated breaker's). */
  state: CircuitState;
  reason: string;
}

export interface BreakerGroups {
  childOf(name: string): ChildInfo | undefined;
  summaryOf(name: string): ChildrenSummary | undefined;
}

export type GroupedSnapshot = CircuitBreakerSnapshot & {
  parent?: string;
  shard?: number;
  master?: string;
  slots?: number;
  shards?: ChildrenSummary;
};

/** One breaker's snapshot with its group fields (none when `groups` is undefined). */
export function groupedSnapshotOf(
  name: string,
  snapshot: CircuitBreakerSnapshot,
  groups: BreakerGroups | undefined,
): GroupedSnapshot {
  if (groups === undefined) return snapshot;
  const child = groups.childOf(name);
  if (child !== undefined) return { ...snapshot, ...child };
  const summary = groups.summaryOf(name);
  return summary === undefined ? snapshot : { ...snapshot, shards: summary };
}

/**
 * The registry's snapshots by name (the shape of `GET /v1/circuit-breakers`), each child
 * placed right after its parent and naming it, each parent with its children's summary.
 */
export function groupedSnapshots(
  registry: BreakerRegistry,
  groups: BreakerGroups | undefined,
): Record<string, GroupedSnapshot> {
  const flat = registry.snapshot();
  if (groups === undefined) return flat;
  const children = new Map<string, Array<[string, number]>>();
  for (const name of Object.keys(flat)) {
    const child = groups.childOf(name);
    if (child === undefined) continue;
    const list = children.get(child.parent) ?? [];
    list.push([name, child.shard]);
    children.set(child.parent, list);
  }
  const out: Record<string, GroupedSnapshot> = {};
  const add = (name: string): void => {
    out[name] = groupedSnapshotOf(name, flat[name]!, groups);
  };
  for (const name of Object.keys(flat)) {
    const child = groups.childOf(name);
    if (child !== undefined && flat[child.parent] !== undefined) continue; // placed below
    add(name);
    const mine = children.get(name)?.sort((a, b) => a[1] - b[1]) ?? [];
    for (const [childName] of mine) add(childName);
  }
  return out;
}
