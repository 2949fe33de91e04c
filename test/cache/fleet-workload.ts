import type { ServiceProcess } from '@breakerbox/devkit';
import { sleep } from '@breakerbox/devkit';
import { seededRandom } from 'breakerbox';

// The fleet workload and its checker, shared by fleet.test.ts (one Redis) and
// cluster-fleet.test.ts (a Redis Cluster): a seeded random PUT/DELETE/GET workload across
// service replicas, an invalidation-delay probe, and a checker that fails on any read that
// returns a value older than a write that had answered `l2: true` 100 ms or more before the
// read started (the contract's "the cache is correct across replicas").

export interface Write {
  key: string;
  id: string | null; // null: a DELETE
  start: number;
  end: number; // Infinity: never answered (outcome unknown)
  acked: boolean;
  replica?: number;
}
export interface Read {
  key: string;
  start: number;
  id: string | null;
  stale: boolean;
  replica: number;
  source?: unknown;
}
export interface PhaseReport {
  phase: string;
  reads: number;
  writes: number;
  acked: number;
  staleReads: number;
  fallbackReads: number;
  invalidationMs: { samples: number; max: number; p50: number; p99: number };
}

export interface FleetWorkloadOptions {
  /** The replicas (an entry is undefined while that replica is down). */
  services: () => ReadonlyArray<ServiceProcess | undefined>;
  opsPerPhase: number;
  workers: number;
  keysPerPhase: number;
  /** Every phase's report is pushed here. */
  reports: PhaseReport[];
}

export function fleetWorkload(options: FleetWorkloadOptions) {
  const OPS_PER_PHASE = options.opsPerPhase;
  const WORKERS = options.workers;
  const KEYS_PER_PHASE = options.keysPerPhase;
  const reports = options.reports;

  const prng = seededRandom;

  async function request(
    replica: number,
    method: 'GET' | 'PUT' | 'DELETE',
    key: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; stale: boolean } | undefined> {
    const service = options.services()[replica];
    if (service === undefined) return undefined;
    try {
      const res = await fetch(`${service.baseUrl}/v1/cache/${key}`, {
        method,
        signal: AbortSignal.timeout(5_000),
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const parsed = (await res.json()) as Record<string, unknown>;
      return {
        status: res.status,
        body: parsed,
        stale: res.headers.get('x-cache-stale') === 'true',
      };
    } catch {
      return undefined; // the replica is down or restarting
    }
  }

  function idOf(value: unknown): string | null {
    return typeof value === 'object' && value !== null && 'w' in value
      ? String((value as { w: unknown }).w)
      : null;
  }

  /** Reads that returned a value older than a write acknowledged >= 100 ms before they began. */
  function staleReads(writes: Write[], reads: Read[]): Read[] {
    const byId = new Map(writes.filter((w) => w.id !== null).map((w) => [w.id!, w]));
    const byKey = new Map<string, Write[]>();
    for (const w of writes) {
      if (!w.acked) continue;
      (byKey.get(w.key) ?? byKey.set(w.key, []).get(w.key)!).push(w);
    }
    return reads.filter((r) => {
      if (r.id === null) return false; // a miss is always allowed
      const source = byId.get(r.id);
      if (source === undefined) return true; // a value nobody wrote in this phase
      let latestStart = -Infinity;
      for (const w of byKey.get(r.key) ?? []) {
        if (w.end <= r.start - 100 && w.start > latestStart) latestStart = w.start;
      }
      // Stale if its write was over before an acknowledged write (answered >= 100 ms before the
      // read) even began.
      return source.end < latestStart;
    });
  }

  function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return 0;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }

  /**
   * Invalidation delay: write on replica `a`, then poll replica `b` (whose L1 holds the old
   * value) until it stops serving the old value. Milliseconds from the write's answer.
   */
  async function probeLoop(phase: string, until: () => boolean, samples: number[]): Promise<void> {
    let n = 0;
    while (!until()) {
      const a = n % options.services().length;
      const b = (n + 1) % options.services().length;
      const key = `${phase}:probe${n % 4}`;
      n++;
      const before = `${phase}-probe-${n}-old`;
      const put1 = await request(a, 'PUT', key, { value: { w: before } });
      if (put1?.body.stored === undefined || !(put1.body.stored as { l2: boolean }).l2) {
        await sleep(50);
        continue;
      }
      // Two reads on b: the second is served from its L1 (if b is coherent).
      await request(b, 'GET', key);
      const warm = await request(b, 'GET', key);
      if (warm?.body.source !== 'l1' || idOf(warm.body.value) !== before) continue;
      const put2 = await request(a, 'PUT', key, { value: { w: `${phase}-probe-${n}-new` } });
      const acked = performance.now();
      if (!(put2?.body.stored as { l2?: boolean } | undefined)?.l2) continue;
      for (let i = 0; i < 500; i++) {
        const r = await request(b, 'GET', key);
        if (r === undefined) break;
        if (idOf(r.body.value) !== before) {
          // An upper bound: it includes the round trip of the GET that saw the change.
          samples.push(performance.now() - acked);
          break;
        }
      }
    }
  }

  async function runPhase(
    phase: string,
    seed: number,
    fault?: () => Promise<void>,
    options: { replicas?: number[] } = {},
  ): Promise<PhaseReport> {
    const random = prng(seed);
    const writes: Write[] = [];
    const reads: Read[] = [];
    const delays: number[] = [];
    const replicas = options.replicas ?? [0, 1, 2];
    let issued = 0;
    let faultDone = fault === undefined;
    let seq = 0;
    const phaseStart = performance.now();
    const worker = async (): Promise<void> => {
      while ((issued < OPS_PER_PHASE || !faultDone) && performance.now() - phaseStart < 20_000) {
        issued++;
        const replica = replicas[Math.floor(random() * replicas.length)]!;
        const key = `${phase}:k${Math.floor(random() * KEYS_PER_PHASE)}`;
        const dice = random();
        const start = performance.now();
        if (dice < 0.35) {
          const id = `${phase}-${seq++}`;
          const write: Write = { key, id, start, end: Infinity, acked: false, replica };
          writes.push(write);
          const r = await request(replica, 'PUT', key, { value: { w: id }, ttl_seconds: 60 });
          if (r !== undefined) {
            write.end = performance.now();
            write.acked = r.status === 200 && (r.body.stored as { l2: boolean }).l2;
          }
        } else if (dice < 0.5) {
          const write: Write = { key, id: null, start, end: Infinity, acked: false, replica };
          writes.push(write);
          const r = await request(replica, 'DELETE', key);
          if (r !== undefined) {
            write.end = performance.now();
            write.acked = r.status === 200 && (r.body.deleted as { l2: boolean }).l2;
          }
        } else {
          const r = await request(replica, 'GET', key);
          if (r !== undefined && (r.status === 200 || r.status === 404)) {
            reads.push({
              key,
              start,
              id: r.status === 200 ? idOf(r.body.value) : null,
              stale: r.stale,
              replica,
              source: r.body.source,
            });
          }
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, () => worker());
    const done = (): boolean => issued >= OPS_PER_PHASE && faultDone;
    const probe = probeLoop(phase, done, delays);
    let faultAt = 0;
    let faultEnd = 0;
    if (fault !== undefined) {
      await sleep(300);
      faultAt = performance.now();
      await fault();
      faultEnd = performance.now();
      faultDone = true;
    }
    await Promise.all([...workers, probe]);
    const fresh = reads.filter((r) => !r.stale);
    const stale = staleReads(writes, fresh);
    delays.sort((x, y) => x - y);
    const report: PhaseReport = {
      phase,
      reads: reads.length,
      writes: writes.length,
      acked: writes.filter((w) => w.acked).length,
      staleReads: stale.length,
      fallbackReads: reads.length - fresh.length,
      invalidationMs: {
        samples: delays.length,
        max: delays.at(-1) ?? 0,
        p50: percentile(delays, 50),
        p99: percentile(delays, 99),
      },
    };
    reports.push(report);
    if (stale.length > 0) {
      const t0 = phaseStart;
      for (const s of stale.slice(0, 3)) {
        console.error(phase, 'stale read', { ...s, start: s.start - t0 });
        console.error(
          writes
            .filter((w) => w.key === s.key)
            .map((w) => ({ ...w, start: w.start - t0, end: w.end - t0 })),
        );
      }
      console.error('fault at', faultAt - t0, faultEnd - t0);
    }
    return report;
  }

  return { request, idOf, staleReads, runPhase, prng };
}

/** One line per phase, for the test log. */
export function formatReports(reports: readonly PhaseReport[]): string {
  return reports
    .map(
      (r) =>
        `  ${r.phase.padEnd(14)} reads=${r.reads} writes=${r.writes} (acked ${r.acked}) ` +
        `stale=${r.staleReads} fallback(x-cache-stale)=${r.fallbackReads} ` +
        `invalidation ms: n=${r.invalidationMs.samples} max=${r.invalidationMs.max.toFixed(1)} ` +
        `p50=${r.invalidationMs.p50.toFixed(1)} p99=${r.invalidationMs.p99.toFixed(1)}`,
    )
    .join('\n');
}
