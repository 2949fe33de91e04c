import calculateSlot from 'cluster-key-slot';
import type { CoherenceListener, TaggedCoherenceListener } from '../tracking.js';
import { CLUSTER_SLOT_COUNT } from './shard-breakers.js';

/** What SlotCoherence reads of a master's tracker (tracking.ts's InvalidationTracker). */
export interface MasterCoherence {
  coherent(now?: number): boolean;
  lastCoherentAt(): number;
}

/**
 * L1 coherence per hash slot on a Redis Cluster: an L1 copy is vouched for by the tracker of
 * the master that owns its key's slot, not by every master's.
 *
 * - **Tag.** Each L1 copy is stored with its key's slot (`tagOf`: one CRC16, at fill time).
 *   The hit path reads `trackers[slot]` (the tracker of the slot's master) and asks it: an
 *   array read and a tracker check, no hash, no allocation.
 * - **Fresh** only while that master's tracker is coherent (tracking on for the connection
 *   that serves the slot, and a PING on its invalidation connection answered within the fresh
 *   window). Why that is enough: BCAST tracking on a master announces every change, by anyone,
 *   of every key it holds under the namespace, so the invalidations of a key come from the
 *   master that executes its writes, which is the slot's owner. Another master losing
 *   coherence cannot hide a change of this key.
 * - **A tracker (re-)enabling** (its data or invalidation connection dropped, a restart, a
 *   FLUSHALL on that master) drops the copies of the slots that master owns: those are the
 *   copies that may have missed its invalidations. Copies of slots it owned earlier were
 *   already dropped when the slot map said they moved (below).
 * - **A slot-map change** drops the copies of every slot whose master changed (a failover, a
 *   reshard, a slot gained or lost, and the first map): they were vouched for by the old
 *   master's tracker, whose silence says nothing about the new master's writes. A slot
 *   without a master, or whose master has no tracker yet, is not coherent.
 * - **Reads in flight** across any of these flushes do not fill L1 (cascade-cache.ts's epoch).
 *
 * What this cannot see (and the global rule could not either): this process's slot map lags
 * the cluster's by up to the refresh interval. A slot moved, in that window, to a master whose
 * tracker is not coherent (a master added moments ago, not in our map yet) could take writes
 * whose invalidations nobody sends us; the copies are dropped at the next refresh.
 */
export class SlotCoherence {
  /** slot -> `host:port` of its master in the current map (undefined: none). */
  private readonly owners: Array<string | undefined> = new Array<string | undefined>(
    CLUSTER_SLOT_COUNT,
  ).fill(undefined);
  /** slot -> the tracker of its master (undefined: no master, or no tracker for it yet). */
  private readonly trackers: Array<MasterCoherence | undefined> = new Array<
    MasterCoherence | undefined
  >(CLUSTER_SLOT_COUNT).fill(undefined);
  private readonly moved = new Uint8Array(CLUSTER_SLOT_COUNT);
  private readonly isMoved = (slot: number): boolean => this.moved[slot] === 1;

  constructor(
    private readonly listener: TaggedCoherenceListener,
    private readonly namespace: string,
  ) {}

  /** The tag of a cache key's L1 copy: the hash slot of its Redis key. */
  tagOf(key: string): number {
    return calculateSlot(this.namespace + key);
  }

  coherentTag(slot: number, now: number = performance.now()): boolean {
    const tracker = this.trackers[slot];
    return tracker !== undefined && tracker.coherent(now);
  }

  lastCoherentAtTag(slot: number): number {
    return this.trackers[slot]?.lastCoherentAt() ?? -Infinity;
  }

  /** The master of a slot in the current map. */
  ownerOf(slot: number): string | undefined {
    return this.owners[slot];
  }

  /**
   * Takes a new slot map (per slot: master first, as ioredis keeps it) and the trackers by
   * master; drops the L1 copies of every slot whose master changed. Returns how many changed.
   */
  update(
    slots: ReadonlyArray<readonly string[] | undefined>,
    trackers: ReadonlyMap<string, MasterCoherence>,
  ): number {
    let changed = 0;
    for (let slot = 0; slot < CLUSTER_SLOT_COUNT; slot++) {
      const owner = slots[slot]?.[0];
      if (owner !== this.owners[slot]) {
        this.owners[slot] = owner;
        this.moved[slot] = 1;
        changed++;
      } else {
        this.moved[slot] = 0;
      }
      this.trackers[slot] = owner === undefined ? undefined : trackers.get(owner);
    }
    if (changed > 0) this.listener.flushTagged(this.isMoved, 'slot_map');
    return changed;
  }

  /**
   * The listener for the tracker of master `node`: invalidations pass through (a key is a key,
   * whichever master announces it); its flushes drop only the copies of the slots it owns.
   */
  listenerFor(node: string): CoherenceListener {
    const owns = (slot: number): boolean => this.owners[slot] === node;
    return {
      invalidate: (key) => this.listener.invalidate(key),
      flush: (cause) => this.listener.flushTagged(owns, cause),
    };
  }
}
