/**
 * Heap growth over many sequential closed-success calls, one subject per process (run by
 * bench/index.ts with --expose-gc, so a library's leftovers never land in another's numbers).
 *
 *   node --expose-gc --import tsx bench/heap.ts --subject breakerbox-sdk --calls 10000000
 *
 * Method: warm up, scrape, full GC, read heapUsed; make the calls (awaiting each), scraping
 * through the SDK reader every million calls as Prometheus would; scrape, full GC, read
 * heapUsed again. Growth = after - before. The peak is sampled every 100k calls without a GC.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  bareBreaker,
  cockatiel,
  fn,
  opossum,
  telemetryBreaker,
  telemetryRig,
  type TelemetryRig,
} from './subjects.js';

export type HeapSubject = 'breakerbox-sdk' | 'breakerbox' | 'cockatiel' | 'opossum';

export interface HeapResult {
  subject: HeapSubject;
  calls: number;
  seconds: number;
  nsPerCall: number;
  beforeMiB: number;
  afterMiB: number;
  growthMiB: number;
  /** Highest heapUsed seen during the run (no GC forced), minus `before`. */
  peakAboveMiB: number;
  rssGrowthMiB: number;
}

const MiB = 1024 * 1024;

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  // Several passes: weak callbacks and finalizers can free more on the next one.
  for (let i = 0; i < 4; i++) gc();
}

export async function runHeap(subject: HeapSubject, calls: number): Promise<HeapResult> {
  let call: () => Promise<unknown>;
  let rig: TelemetryRig | undefined;
  let cleanup = async (): Promise<void> => undefined;
  if (subject === 'breakerbox-sdk') {
    rig = telemetryRig();
    const breaker = telemetryBreaker(rig);
    call = () => breaker.execute(fn);
    const r = rig;
    cleanup = () => r.shutdown();
  } else if (subject === 'breakerbox') {
    const breaker = bareBreaker();
    call = () => breaker.execute(fn);
  } else if (subject === 'cockatiel') {
    const policy = cockatiel();
    call = () => policy.execute(fn);
  } else {
    const breaker = opossum();
    call = () => breaker.fire();
    cleanup = async () => breaker.shutdown();
  }

  const warmup = Math.min(200_000, calls);
  for (let i = 0; i < warmup; i++) await call();
  await rig?.scrape();
  fullGc();
  const before = process.memoryUsage();
  let peak = before.heapUsed;

  const t0 = performance.now();
  for (let i = 1; i <= calls; i++) {
    await call();
    if (i % 100_000 === 0) {
      const used = process.memoryUsage().heapUsed;
      if (used > peak) peak = used;
      if (rig !== undefined && i % 1_000_000 === 0) await rig.scrape();
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  await rig?.scrape();
  fullGc();
  const after = process.memoryUsage();
  await cleanup();
  return {
    subject,
    calls,
    seconds,
    nsPerCall: (seconds * 1e9) / calls,
    beforeMiB: before.heapUsed / MiB,
    afterMiB: after.heapUsed / MiB,
    growthMiB: (after.heapUsed - before.heapUsed) / MiB,
    peakAboveMiB: (peak - before.heapUsed) / MiB,
    rssGrowthMiB: (after.rss - before.rss) / MiB,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const subject = (arg('--subject') ?? 'breakerbox-sdk') as HeapSubject;
  const calls = Number(arg('--calls') ?? 10_000_000);
  const result = await runHeap(subject, calls);
  const json = JSON.stringify(result, null, 2);
  const out = arg('--out');
  if (out !== undefined) writeFileSync(out, json);
  else process.stdout.write(json + '\n');
}
