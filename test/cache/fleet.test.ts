import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FaultProxy,
  RedisProcess,
  ServiceProcess,
  sleep,
  stopAllRedis,
  stopAllServices,
  waitFor,
} from '@breakerbox/devkit';

// Three real service processes (node dist/main.js), each with its own CACHE_JOURNAL_DIR and
// its own FaultProxy, on one private redis-server. A seeded random PUT/DELETE/GET workload
// runs across them, clean and under each fault, and a checker fails on any read that returns
// a value older than a write that had answered `l2: true` 100 ms or more before the read
// started (the contract's "the cache is correct across replicas").

const REPLICAS = 3;
const OPS_PER_PHASE = 1_500;
const WORKERS = 6;
const KEYS_PER_PHASE = 16;

interface Write {
  key: string;
  id: string | null; // null: a DELETE
  start: number;
  end: number; // Infinity: never answered (outcome unknown)
  acked: boolean;
  replica?: number;
}
interface Read {
  key: string;
  start: number;
  id: string | null;
  stale: boolean;
  replica: number;
  source?: unknown;
}
interface PhaseReport {
  phase: string;
  reads: number;
  writes: number;
  acked: number;
  staleReads: number;
  fallbackReads: number;
  invalidationMs: { samples: number; max: number; p50: number; p99: number };
}

let redis: RedisProcess;
const proxies: FaultProxy[] = [];
const services: Array<ServiceProcess | undefined> = [];
const journalDirs: string[] = [];
const reports: PhaseReport[] = [];

function serviceEnv(i: number): Record<string, string> {
  return {
    REDIS_URL: `redis://127.0.0.1:${proxies[i]!.port}/0`,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '0.5',
    CACHE_JOURNAL_DIR: journalDirs[i]!,
    LOG_LEVEL: 'warn',
  };
}

beforeAll(async () => {
  redis = await RedisProcess.start();
  for (let i = 0; i < REPLICAS; i++) {
    proxies.push(await FaultProxy.start({ targetPort: redis.port }));
    journalDirs.push(mkdtempSync(join(tmpdir(), `bb-fleet-journal-${i}-`)));
  }
  const started = await Promise.all(
    Array.from({ length: REPLICAS }, (_, i) => ServiceProcess.start(serviceEnv(i))),
  );
  services.push(...started);
  // Every replica has tracking on before the first phase.
  for (const s of started) {
    await waitFor(async () => (await s.json('/v1/cache/warmup')).status === 404, {
      timeoutMs: 10_000,
    });
  }
}, 60_000);

afterAll(async () => {
  console.log(
    'fleet results:\n' +
      reports
        .map(
          (r) =>
            `  ${r.phase.padEnd(14)} reads=${r.reads} writes=${r.writes} (acked ${r.acked}) ` +
            `stale=${r.staleReads} fallback(x-cache-stale)=${r.fallbackReads} ` +
            `invalidation ms: n=${r.invalidationMs.samples} max=${r.invalidationMs.max.toFixed(1)} ` +
            `p50=${r.invalidationMs.p50.toFixed(1)} p99=${r.invalidationMs.p99.toFixed(1)}`,
        )
        .join('\n'),
  );
  await stopAllServices();
  await Promise.all(proxies.map((p) => p.close()));
  await stopAllRedis();
});

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function request(
  replica: number,
  method: 'GET' | 'PUT' | 'DELETE',
  key: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; stale: boolean } | undefined> {
  const service = services[replica];
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
    return { status: res.status, body: parsed, stale: res.headers.get('x-cache-stale') === 'true' };
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
    const a = n % REPLICAS;
    const b = (n + 1) % REPLICAS;
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

function direct(): Redis {
  const r = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  return r;
}

/** Waits until every replica answers (its breaker closed again after a fault). */
async function allServing(): Promise<void> {
  for (let i = 0; i < REPLICAS; i++) {
    await waitFor(
      async () => {
        const r = await request(i, 'PUT', 'fleet:ready', { value: 1 });
        return r !== undefined && (r.body.stored as { l2: boolean } | undefined)?.l2 === true;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: `replica ${i} serving` },
    );
  }
}

describe('a fleet of three replicas on one Redis', () => {
  it('clean: no stale reads', async () => {
    const r = await runPhase('clean', 1);
    expect(r.reads).toBeGreaterThan(200);
    expect(r.acked).toBeGreaterThan(100);
    expect(r.invalidationMs.samples).toBeGreaterThan(0);
    expect(r.staleReads).toBe(0);
  }, 60_000);

  it('redis-server SIGKILLed and restarted empty: no stale reads', async () => {
    const r = await runPhase('restart', 2, async () => {
      await redis.restart();
    });
    expect(r.staleReads).toBe(0);
    await allServing();
  }, 60_000);

  it("CLIENT KILL of the services' connections: no stale reads", async () => {
    const d = direct();
    const r = await runPhase('client-kill', 3, async () => {
      await d.call('CLIENT', 'KILL', 'TYPE', 'normal');
      await d.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    });
    d.disconnect();
    expect(r.staleReads).toBe(0);
    await allServing();
  }, 60_000);

  it('FLUSHALL: no stale reads', async () => {
    const d = direct();
    const r = await runPhase('flushall', 4, async () => {
      await d.flushall();
      await sleep(200);
      await d.flushdb();
    });
    d.disconnect();
    expect(r.staleReads).toBe(0);
    await allServing();
  }, 60_000);

  it("one replica's link blackholed and restored: no stale reads", async () => {
    const r = await runPhase('blackhole', 5, async () => {
      await proxies[2]!.setMode('blackhole');
      await sleep(1_500);
      await proxies[2]!.setMode('pass');
    });
    expect(r.staleReads).toBe(0);
    await allServing();
  }, 60_000);

  it('ghost write: a slow write on A that answered l2:false never lands over a newer one from B', async () => {
    const d = direct();
    await request(0, 'PUT', 'ghost:k', { value: { w: 'v0' } });
    await proxies[0]!.setMode('delay', { delayMs: 400 }); // past the 200 ms command timeout
    const slow = await request(0, 'PUT', 'ghost:k', { value: { w: 'slow-from-a' } });
    expect(slow?.body.stored).toEqual({ l1: true, l2: false });
    const newer = await request(1, 'PUT', 'ghost:k', { value: { w: 'newer-from-b' } });
    expect(newer?.body.stored).toEqual({ l1: true, l2: true });
    await sleep(600); // the delayed SET reaches Redis now, after its deadline
    await proxies[0]!.setMode('pass');
    await allServing();
    await sleep(1_500); // A's journal replay (conditional: it keeps B's newer write)
    expect((await d.get('bb:v1:ghost:k'))?.replace(/^1\|\d+\|\d+\|/, '')).toBe(
      '{"w":"newer-from-b"}',
    );
    for (let i = 0; i < REPLICAS; i++) {
      expect((await request(i, 'GET', 'ghost:k'))?.body.value).toEqual({ w: 'newer-from-b' });
    }
    d.disconnect();
  }, 30_000);

  it('20,000 DELETEs on a partitioned replica leave unrelated keys served everywhere', async () => {
    const d = direct();
    const unrelated = Array.from({ length: 20 }, (_, i) => `mass:keep${i}`);
    for (const k of unrelated) await request(0, 'PUT', k, { value: { w: k }, ttl_seconds: 600 });
    await proxies[2]!.setMode('blackhole');
    let sent = 0;
    let ok = 0;
    const worker = async (w: number): Promise<void> => {
      for (let i = w; i < 20_000; i += 50) {
        sent++;
        const r = await request(2, 'DELETE', `mass:gone${i}`);
        if (r?.status === 200) ok++;
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, w) => worker(w)));
    expect(sent).toBe(20_000);
    expect(ok).toBe(20_000); // all journaled (the default bound is 50 000)
    await proxies[2]!.setMode('pass');
    await allServing();
    for (let i = 0; i < REPLICAS; i++) {
      for (const k of unrelated) expect((await request(i, 'GET', k))?.body.value).toEqual({ w: k });
    }
    expect(await d.exists(...unrelated.map((k) => `bb:v1:${k}`))).toBe(unrelated.length);
    d.disconnect();
  }, 90_000);

  it('one replica SIGKILLed with a non-empty journal: replayed within 10 s of its restart', async () => {
    const d = direct();
    // Values the partitioned replica will delete.
    const doomed = Array.from({ length: 30 }, (_, i) => `journal:k${i}`);
    for (const k of doomed) await request(0, 'PUT', k, { value: { w: `old-${k}` } });
    let restartedAt = 0;
    const r = await runPhase(
      'replica-kill',
      6,
      async () => {
        await proxies[2]!.setMode('blackhole');
        const answers = await Promise.all(doomed.map((k) => request(2, 'DELETE', k)));
        expect(answers.every((a) => a?.status === 200 && a.body.deleted !== undefined)).toBe(true);
        expect(answers.some((a) => (a!.body.deleted as { l2: boolean }).l2)).toBe(false);
        const journal = readFileSync(join(journalDirs[2]!, 'journal.ndjson'), 'utf8');
        for (const k of doomed) expect(journal).toContain(`{"k":"${k}"`);
        const victim = services[2]!;
        services[2] = undefined;
        expect(await victim.stop('SIGKILL')).toBeNull(); // killed, not exited
        await proxies[2]!.setMode('pass');
        services[2] = await ServiceProcess.start(serviceEnv(2));
        restartedAt = performance.now();
      },
      { replicas: [0, 1, 2] },
    );
    // No client traffic needed: the journal replays on its own.
    await waitFor(async () => (await d.exists(...doomed.map((k) => `bb:v1:${k}`))) === 0, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'journal replayed',
    });
    const replayMs = performance.now() - restartedAt;
    console.log(`journal replayed ${replayMs.toFixed(0)} ms after the replica restarted`);
    expect(replayMs).toBeLessThan(10_000);
    for (let i = 0; i < REPLICAS; i++) {
      for (const k of doomed.slice(0, 5)) expect((await request(i, 'GET', k))?.status).toBe(404);
    }
    d.disconnect();
    expect(r.staleReads).toBe(0);
  }, 90_000);
});
