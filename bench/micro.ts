/**
 * Micro-benchmarks (run by bench/index.ts in a child with --expose-gc). Every case is measured
 * with mitata's `measure` once per round, the rounds interleaved so drift hits all cases alike;
 * a case's result is the median over rounds of mitata's per-round median (ns per call).
 *
 *   node --expose-gc --import tsx bench/micro.ts [--quick] [--nodesdk] [--out results.json]
 *
 * --nodesdk: the service's full NodeSDK setup instead of a bare MeterProvider (fewer cases).
 * --cases a,b: only the cases with these ids (a quick A/B of a few paths).
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { measure } from 'mitata';
import {
  bareBreaker,
  cockatiel,
  fn,
  isCockatielOpen,
  nodeSdkRig,
  noop,
  openOpossum,
  opossum,
  slowCallBreaker,
  telemetryBreaker,
  telemetryRig,
  tripBreakerbox,
  tripCockatiel,
} from './subjects.js';
import { CircuitState, type CircuitBreaker } from 'breakerbox';

export interface MicroCase {
  id: string;
  label: string;
  /** Median over rounds of the per-round median, ns per call. */
  ns: number;
  /** Smallest and largest per-round median. */
  min: number;
  max: number;
  rounds: number[];
  sync: boolean;
}

export interface MicroResult {
  rig: 'meter-provider' | 'node-sdk';
  rounds: number;
  batch: number;
  minCpuTimeMs: number;
  cases: MicroCase[];
}

interface Case {
  id: string;
  label: string;
  /** One call. Async unless `sync`; async cases are measured in batches (see `batchLoop`). */
  run: () => unknown;
  sync?: boolean;
  /** Before each round (re-open a breaker whose own timer could half-open it). */
  before?: () => void;
  /** After each round: the subject must still be in the state the case measures. */
  check?: () => void;
}

const PREALLOCATED = Object.freeze(new Error('preallocated'));

/** Calls awaited per measured iteration of an async case. */
const BATCH = 256;

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The measured unit of an async case: BATCH sequential awaited calls, then one turn of the
 * event loop. Without that turn the microtask queue never drains during a measurement, so
 * Node's unhandled-rejection bookkeeping (an entry per rejected promise, processed only once
 * the queue drains) piles up millions of entries and makes every rejection case slow and
 * erratic (a preallocated rejection measured 680-1900 ns that way, 515 ns with the turn); a
 * server drains it on every I/O event. The turn costs a few ns per call, alike for every
 * case. Each case gets its own compiled loop (`new Function`), so its call site stays
 * monomorphic, as mitata does for its own loop.
 */
function batchLoop(call: () => unknown): () => Promise<void> {
  const factory = new Function(
    'call',
    'immediate',
    `return async function batch() {
      for (let i = 0; i < ${BATCH}; i++) await call();
      await immediate();
    };`,
  ) as (call: () => unknown, next: () => Promise<void>) => () => Promise<void>;
  return factory(call, immediate);
}

const mustBe = (b: CircuitBreaker, state: CircuitState) => (): void => {
  if (b.state !== state) throw new Error(`${b.name} left ${state}: now ${b.state}`);
};

export async function runMicro(
  quick: boolean,
  nodeSdk: boolean,
  only?: ReadonlySet<string>,
): Promise<MicroResult> {
  const rounds = quick ? 2 : nodeSdk ? 5 : 7;
  const minCpuTimeMs = quick ? 40 : 300;
  const sdk = nodeSdk ? 'NodeSDK' : 'OTel SDK';

  const rig = nodeSdk ? nodeSdkRig() : telemetryRig();
  const bbBare = bareBreaker();
  const bbSdk = telemetryBreaker(rig);
  const bbBareOpen = bareBreaker();
  const bbSdkOpen = telemetryBreaker(rig);
  const bbSlow = slowCallBreaker();
  const bbSlowOpen = slowCallBreaker();
  await tripBreakerbox(bbSlowOpen);
  await tripBreakerbox(bbBareOpen);
  await tripBreakerbox(bbSdkOpen);
  const opClosed = opossum();
  const opOpen = opossum();
  openOpossum(opOpen);
  const ckClosed = cockatiel();
  const ckOpen = cockatiel();
  await tripCockatiel(ckOpen);

  const all: Case[] = [
    { id: 'raw', label: 'raw await fn()', run: () => fn() },
    {
      id: 'bb.closed.bare',
      label: 'breakerbox closed, bare',
      run: () => bbBare.execute(fn),
      check: mustBe(bbBare, CircuitState.Closed),
    },
    {
      id: 'bb.closed.slow',
      label: 'breakerbox closed, bare, slowCall on',
      run: () => bbSlow.execute(fn),
      check: mustBe(bbSlow, CircuitState.Closed),
    },
    {
      id: 'bb.closed.sdk',
      label: `breakerbox closed, ${sdk}`,
      run: () => bbSdk.execute(fn),
      check: mustBe(bbSdk, CircuitState.Closed),
    },
    {
      id: 'ck.closed',
      label: 'cockatiel closed',
      run: () => ckClosed.execute(fn),
      check: () => {
        if (isCockatielOpen(ckClosed)) throw new Error('cockatiel closed case opened');
      },
    },
    {
      id: 'op.closed',
      label: 'opossum closed (defaults)',
      run: () => opClosed.fire(),
      check: () => {
        if (!opClosed.closed) throw new Error('opossum closed case opened');
      },
    },
    {
      id: 'floor.reject',
      label: 'floor: reject preallocated error, caught',
      run: () => Promise.reject(PREALLOCATED).catch(noop),
    },
    {
      id: 'ref.reject.new',
      label: 'ref: reject new Error() (stack), caught',
      run: () => Promise.reject(new Error('down')).catch(noop),
    },
    {
      id: 'bb.open.bare',
      label: 'breakerbox open execute, bare',
      run: () => bbBareOpen.execute(fn).catch(noop),
      check: mustBe(bbBareOpen, CircuitState.Open),
    },
    {
      id: 'bb.open.slow',
      label: 'breakerbox open execute, bare, slowCall on',
      run: () => bbSlowOpen.execute(fn).catch(noop),
      check: mustBe(bbSlowOpen, CircuitState.Open),
    },
    {
      id: 'bb.open.sdk',
      label: `breakerbox open execute, ${sdk}`,
      run: () => bbSdkOpen.execute(fn).catch(noop),
      check: mustBe(bbSdkOpen, CircuitState.Open),
    },
    {
      id: 'ck.open',
      label: 'cockatiel open (BrokenCircuitError)',
      run: () => ckOpen.execute(fn).catch(noop),
      check: () => {
        if (!isCockatielOpen(ckOpen)) throw new Error('cockatiel open case closed');
      },
    },
    {
      id: 'op.open',
      label: 'opossum open (breaker.open())',
      run: () => opOpen.fire().catch(noop),
      before: () => openOpossum(opOpen),
      check: () => {
        if (!opOpen.opened) throw new Error('opossum open case left open');
      },
    },
    {
      id: 'bb.try.bare',
      label: 'breakerbox tryAcquire() open, bare (sync)',
      run: () => bbBareOpen.tryAcquire(),
      sync: true,
      check: mustBe(bbBareOpen, CircuitState.Open),
    },
    {
      id: 'bb.try.sdk',
      label: `breakerbox tryAcquire() open, ${sdk} (sync)`,
      run: () => bbSdkOpen.tryAcquire(),
      sync: true,
      check: mustBe(bbSdkOpen, CircuitState.Open),
    },
  ];
  // Under NodeSDK the bare breakerbox cases say nothing new; opossum is slow enough as it is.
  const skipWithNodeSdk = new Set([
    'bb.closed.bare',
    'bb.closed.slow',
    'bb.open.bare',
    'bb.open.slow',
    'bb.try.bare',
    'op.closed',
  ]);
  const cases = all.filter(
    (c) => (only === undefined || only.has(c.id)) && !(nodeSdk && skipWithNodeSdk.has(c.id)),
  );

  const measured = cases.map((c) => (c.sync === true ? c.run : batchLoop(c.run)));
  const samples = new Map<string, number[]>(cases.map((c) => [c.id, []]));
  // Round 0 is a warm-up (JIT tiers, inline caches), measured but not recorded.
  for (let round = 0; round <= rounds; round++) {
    for (const [i, c] of cases.entries()) {
      c.before?.();
      const stats = await measure(measured[i]!, {
        min_cpu_time: (round === 0 ? minCpuTimeMs / 2 : minCpuTimeMs) * 1e6,
        // Async: one sample per batch of BATCH calls (already tens of µs); sync: mitata's own.
        ...(c.sync === true ? {} : { batch_threshold: 0 }),
      });
      c.check?.();
      if (round > 0) samples.get(c.id)!.push(c.sync === true ? stats.p50 : stats.p50 / BATCH);
    }
    // A scrape between rounds, as Prometheus would; it must not disturb the hot paths.
    await rig.scrape();
    process.stderr.write(
      `  micro${nodeSdk ? ' (NodeSDK)' : ''} ${round === 0 ? 'warm-up' : `round ${round}/${rounds}`} done\n`,
    );
  }

  // Sanity: the SDK really reads the breakers' aggregates.
  if ((await rig.scrape()) === 0) throw new Error('the metrics SDK collected nothing');
  const ran = (id: string): boolean => cases.some((c) => c.id === id);
  if (
    (ran('bb.closed.sdk') && bbSdk.callCount('success') === 0) ||
    (ran('bb.open.sdk') && bbSdkOpen.callCount('rejected') === 0)
  )
    throw new Error('breaker counts did not move');

  opClosed.shutdown();
  opOpen.shutdown();
  await rig.shutdown();

  return {
    rig: nodeSdk ? 'node-sdk' : 'meter-provider',
    rounds,
    batch: BATCH,
    minCpuTimeMs,
    cases: cases.map((c) => {
      const r = samples.get(c.id)!;
      return {
        id: c.id,
        label: c.label,
        ns: median(r),
        min: Math.min(...r),
        max: Math.max(...r),
        rounds: r,
        sync: c.sync === true,
      };
    }),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const casesIndex = args.indexOf('--cases');
  const only = casesIndex >= 0 ? new Set(args[casesIndex + 1]!.split(',')) : undefined;
  const result = await runMicro(args.includes('--quick'), args.includes('--nodesdk'), only);
  const json = JSON.stringify(result, null, 2);
  if (outIndex >= 0) writeFileSync(args[outIndex + 1]!, json);
  else process.stdout.write(json + '\n');
}
