/**
 * Soak through faults (issue #8): sustained GET/PUT/DELETE load on the cache routes while Redis
 * is killed (SIGKILL) and restarted, and blackholed and released, on a fixed schedule.
 *
 *   npx tsx bench/soak.ts [--minutes 3] [--rate 2000] [--connections 20] [--recovery 2]
 *                         [--heap-probe gc|observe|off] [--service-output FILE]
 *
 * Checks: zero 5xx on the cache routes, no unhandled rejection in the service's output, service
 * memory flat (RSS from /proc sampled every 2 s; and, by default, the live heap measured by
 * bench/support/heap-probe.mjs, preloaded into the service, after a full GC it forces every
 * 10 s: V8 collects lazily under steady load, so RSS alone rises and falls by hundreds of MiB
 * without any leak; `--heap-probe off` runs the service untouched and judges RSS), the
 * `redis_cache` breaker closed after every recovery (polled on /health), and the log-noise
 * reduction over the run from the service's own metrics (suppressed / (suppressed + emitted)),
 * cross-checked against the JSON lines it wrote.
 *
 * Load: autocannon (as a library), `--connections` connections, `--rate` requests/s over all of
 * them (0 = as fast as answers come). Mix: 70% GET, 20% PUT (ttl 300 s), 10% DELETE over 2,000
 * keys. One cycle: 15 s healthy, SIGKILL Redis for 10 s, restart it (empty) and wait for the
 * breaker to close, 10 s healthy, blackhole for 10 s, release and wait for the breaker to
 * close. Cycles repeat while a whole one fits in `--minutes` (at least one), and the rest of
 * the time runs healthy, so the run lasts `--minutes`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  Latencies,
  machineLine,
  ms,
  prng,
  ROOT,
  runScript,
  sleep,
  Stack,
  sumMetric,
  table,
  type Sample,
} from './support/stack.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '20' },
    recovery: { type: 'string', default: '2' },
    'timeout-ms': { type: 'string', default: '500' },
    'summary-interval': { type: 'string', default: '60' },
    /**
     * gc (default): a preloaded probe forces a full GC every 10 s and reports the live heap;
     * observe: the probe only reports; off: no probe (the service exactly as npm start runs it).
     */
    'heap-probe': { type: 'string', default: 'gc' },
    /** Write the service's whole stdout/stderr to this file at the end. */
    'service-output': { type: 'string' },
  },
});
const MINUTES = Math.max(0.5, Math.min(240, Number(args.minutes)));
const RATE = Math.max(0, Math.min(1_000_000, Number(args.rate)));
const CONNECTIONS = Math.max(1, Math.min(1_000, Number(args.connections)));
const RECOVERY_S = Number(args.recovery);
const TIMEOUT_MS = Number(args['timeout-ms']);
const SUMMARY_INTERVAL_S = Number(args['summary-interval']);
const HEAP_PROBE = args['heap-probe'];
if (HEAP_PROBE !== 'gc' && HEAP_PROBE !== 'observe' && HEAP_PROBE !== 'off') {
  throw new Error('--heap-probe must be gc, observe or off');
}
const KEYS = 2_000;
const CLOSE_TIMEOUT_MS = 60_000;

type PhaseKind = 'healthy' | 'redis killed' | 'recovering' | 'blackholed';

interface PhaseStats {
  kind: PhaseKind;
  requests: number;
  s5xx: number;
  errors: number;
  codes: Map<number, number>;
  latencies: Latencies;
  seconds: number;
}

interface Recovery {
  cycle: number;
  fault: string;
  closedAfterMs: number;
}

const phases = new Map<PhaseKind, PhaseStats>();
let current: PhaseStats;
function enter(kind: PhaseKind): void {
  let stats = phases.get(kind);
  if (stats === undefined) {
    stats = {
      kind,
      requests: 0,
      s5xx: 0,
      errors: 0,
      codes: new Map(),
      latencies: new Latencies(),
      seconds: 0,
    };
    phases.set(kind, stats);
  }
  current = stats;
}
enter('healthy');

/** Runs `fn` as phase `kind` and adds its wall time to the phase. */
async function phase<T>(kind: PhaseKind, fn: () => Promise<T>): Promise<T> {
  enter(kind);
  const started = performance.now();
  try {
    return await fn();
  } finally {
    current.seconds += (performance.now() - started) / 1000;
  }
}

function startLoad(
  stack: Stack,
  maxSeconds: number,
): {
  instance: autocannon.Instance;
  done: Promise<autocannon.Result>;
} {
  const random = prng(42);
  const json = { 'content-type': 'application/json' };
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: stack.baseUrl,
        connections: CONNECTIONS,
        duration: maxSeconds,
        pipelining: 1,
        timeout: 10,
        ...(RATE > 0 ? { overallRate: RATE } : {}),
        requests: [
          {
            method: 'GET',
            path: '/v1/cache/soak:0',
            setupRequest: (req) => {
              const r = random();
              const path = `/v1/cache/soak:${Math.floor(random() * KEYS)}`;
              if (r < 0.7) return { ...req, method: 'GET', path, body: undefined, headers: {} };
              if (r < 0.9) {
                const body = JSON.stringify({
                  value: { at: Date.now(), pad: 'p'.repeat(Math.floor(random() * 200)) },
                  ttl_seconds: 300,
                });
                return { ...req, method: 'PUT', path, body, headers: json };
              }
              return { ...req, method: 'DELETE', path, body: undefined, headers: {} };
            },
          },
        ],
      },
      (err, res) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res),
    );
  });
  instance.on('response', (_client, status, _bytes, responseTime) => {
    current.requests++;
    if (status >= 500) current.s5xx++;
    current.codes.set(status, (current.codes.get(status) ?? 0) + 1);
    current.latencies.push(responseTime);
  });
  instance.on('reqError', () => current.errors++);
  return { instance, done };
}

function rssOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const mib = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} MiB`);

/** Least-squares slope of (t, v) in units of v per minute. */
function slopePerMinute(points: Array<{ t: number; v: number }>): number {
  if (points.length < 2) return NaN;
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.v - mv), 0);
  const den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den === 0 ? NaN : (num / den) * 60;
}

interface HeapProbe {
  at: number;
  rss: number;
  heapUsed: number;
  majorGcs: number;
}

function heapProbes(output: string): HeapProbe[] {
  const out: HeapProbe[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('BREAKERBOX_HEAP_PROBE ')) continue;
    try {
      out.push(JSON.parse(line.slice('BREAKERBOX_HEAP_PROBE '.length)) as HeapProbe);
    } catch {
      // a torn line
    }
  }
  return out;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function main(): Promise<number> {
  const probe = HEAP_PROBE === 'off' ? undefined : join(ROOT, 'bench/support/heap-probe.mjs');
  const stack = await Stack.start({
    env: {
      ...(probe === undefined
        ? {}
        : {
            NODE_OPTIONS:
              `${process.env.BENCH_SERVICE_NODE_OPTIONS ?? ''} --import=${probe}`.trim(),
            BREAKERBOX_HEAP_PROBE_GC: HEAP_PROBE === 'gc' ? '1' : '0',
          }),
      REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
      REDIS_CIRCUIT_RECOVERY_TIMEOUT: String(RECOVERY_S),
      CIRCUIT_LOG_SUMMARY_INTERVAL: String(SUMMARY_INTERVAL_S),
      LOG_LEVEL: 'info',
    },
  });
  const pid = stack.pid;
  const t0 = performance.now();
  const wallT0 = Date.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const rss: Array<{ t: number; v: number; kind: PhaseKind }> = [];
  const rssAtStart = rssOf(pid);
  const sampler = setInterval(() => {
    const v = rssOf(pid);
    if (v !== undefined) rss.push({ t: elapsed(), v, kind: current.kind });
  }, 2_000);
  const metricsAtStart = await stack.metrics();

  const budgetS = MINUTES * 60;
  const cycleS = 15 + 10 + 10 + 10 + 2 * (RECOVERY_S + 3);
  const load = startLoad(stack, budgetS + 4 * cycleS + 60);
  const recoveries: Recovery[] = [];
  let rssAfterFirstCycle: number | undefined;
  let firstCycleEnd = Infinity;
  let cycles = 0;
  const maxCycles = Math.max(1, Math.ceil(budgetS / cycleS) + 1);
  /** ms until /health shows the breaker closed; NaN if it did not within CLOSE_TIMEOUT_MS. */
  const closed = (): Promise<number> =>
    stack.waitForState('closed', CLOSE_TIMEOUT_MS).catch(() => NaN);
  try {
    while (cycles < maxCycles && (cycles === 0 || elapsed() + cycleS <= budgetS)) {
      cycles++;
      process.stderr.write(`cycle ${cycles} at ${elapsed().toFixed(0)} s\n`);
      await phase('healthy', () => sleep(15_000));
      await phase('redis killed', async () => {
        await stack.redis.kill('SIGKILL');
        await sleep(10_000);
      });
      recoveries.push({
        cycle: cycles,
        fault: 'SIGKILL + restart',
        closedAfterMs: await phase('recovering', async () => {
          await stack.redis.restart();
          return closed();
        }),
      });
      await phase('healthy', () => sleep(10_000));
      await phase('blackholed', async () => {
        await stack.proxy.setMode('blackhole');
        await sleep(10_000);
      });
      recoveries.push({
        cycle: cycles,
        fault: 'blackhole released',
        closedAfterMs: await phase('recovering', async () => {
          await stack.proxy.setMode('pass');
          return closed();
        }),
      });
      if (cycles === 1) {
        rssAfterFirstCycle = rssOf(pid);
        firstCycleEnd = elapsed();
      }
    }
    // The rest of the budget (at least 5 s) healthy, so the run lasts --minutes.
    await phase('healthy', () => sleep(Math.max(5, budgetS - elapsed()) * 1000));
  } finally {
    load.instance.stop();
    clearInterval(sampler);
  }
  const result = await load.done;
  const finalBreaker = await stack.breaker();
  const rssAtEnd = rssOf(pid);
  const metricsAtEnd = await stack.metrics();
  const runSeconds = elapsed();

  const lines = stack.service.logLines();
  const output = stack.service.output;
  const unhandled =
    lines.filter((l) => l.event === 'unhandled_rejection').length +
    (output.match(/UnhandledPromiseRejection|unhandledRejection|Unhandled promise rejection/g)
      ?.length ?? 0);
  const uncaught = (output.match(/uncaughtException|Uncaught|FATAL ERROR/g) ?? []).length;
  const errorLines = lines.filter((l) => typeof l.level === 'number' && l.level >= 50).length;
  const breakerLines = lines.filter(
    (l) => typeof l.event === 'string' && l.event.startsWith('circuit_breaker.'),
  );
  const stateLines = breakerLines.filter((l) => l.event === 'circuit_breaker.state_change').length;
  const summaryLines = breakerLines.filter((l) => l.event === 'circuit_breaker.summary').length;
  const exitCode = await stack.stop();
  if (args['service-output'] !== undefined)
    writeFileSync(args['service-output'], stack.service.output);

  const delta = (name: string, match: Record<string, string>): number =>
    sumMetric(metricsAtEnd, name, match) - sumMetric(metricsAtStart, name, match);
  const logEvents = (disposition: string, m: Sample[] = metricsAtEnd): number =>
    sumMetric(m, 'circuit_breaker_log_events_total', {
      circuit_breaker_name: 'redis_cache',
      disposition,
    });
  const emitted = logEvents('emitted');
  const suppressed = logEvents('suppressed');
  const reduction = suppressed / (suppressed + emitted);
  const calls = (outcome: string): number =>
    delta('circuit_breaker_calls_total', { circuit_breaker_name: 'redis_cache', outcome });
  const opens = delta('circuit_breaker_transitions_total', {
    circuit_breaker_name: 'redis_cache',
    to_state: 'open',
  });

  const all = [...phases.values()];
  const total = all.reduce((s, p) => s + p.requests, 0);
  const total5xx = all.reduce((s, p) => s + p.s5xx, 0);
  const totalErrors = all.reduce((s, p) => s + p.errors, 0);
  const warm = rss.filter((p) => p.t >= firstCycleEnd);
  const slope = slopePerMinute(warm);
  const warmRss = rssAfterFirstCycle ?? rss[0]?.v;
  const growth = rssAtEnd !== undefined && warmRss !== undefined ? rssAtEnd - warmRss : NaN;
  const rssFlat = Number.isFinite(growth) && growth < 0.1 * (warmRss ?? Infinity);
  // The live heap (after the probe's forced GC): cycle 1 after its first 15 s versus the last
  // 60 s of the run (medians, so one sample taken mid-burst does not decide).
  const probes = heapProbes(stack.service.output).map((p) => ({
    ...p,
    t: (p.at - wallT0) / 1000,
  }));
  const heapEarly = median(
    probes.filter((p) => p.t >= 15 && p.t <= firstCycleEnd).map((p) => p.heapUsed),
  );
  const heapLate = median(probes.filter((p) => p.t >= runSeconds - 60).map((p) => p.heapUsed));
  const heapGrowth = heapLate - heapEarly;
  const heapFlat = Number.isFinite(heapGrowth) && heapGrowth < Math.max(5, 0.15 * heapEarly);
  const memoryFlat = HEAP_PROBE === 'gc' ? heapFlat : rssFlat;
  const closedCount = recoveries.filter((r) => Number.isFinite(r.closedAfterMs)).length;
  const allClosed =
    closedCount === 2 * cycles && finalBreaker.state === 'closed' && closedCount > 0;
  const noiseOk = reduction >= 0.999;
  const pass = total5xx === 0 && unhandled === 0 && memoryFlat && allClosed && noiseOk;

  console.log(`## Soak through Redis faults (bench/soak.ts)\n`);
  console.log(`${machineLine()}\n`);
  console.log(
    `${runSeconds.toFixed(0)} s, ${cycles} fault cycles (15 s healthy, SIGKILL Redis 10 s, restart, ` +
      `10 s healthy, blackhole 10 s, release). Load: autocannon ${CONNECTIONS} connections, ` +
      `${RATE > 0 ? `${RATE} req/s overall` : 'unpaced'}, 70% GET / 20% PUT / 10% DELETE over ` +
      `${KEYS} keys. Service: REDIS_COMMAND_TIMEOUT_MS=${TIMEOUT_MS}, ` +
      `REDIS_CIRCUIT_RECOVERY_TIMEOUT=${RECOVERY_S}, threshold 5, 1 half-open call, ` +
      `CIRCUIT_LOG_SUMMARY_INTERVAL=${SUMMARY_INTERVAL_S}. Heap probe: ${HEAP_PROBE}` +
      `${HEAP_PROBE === 'gc' ? ' (bench/support/heap-probe.mjs preloaded; it forces a full GC every 10 s, so RSS below is with those GCs)' : ''}.\n`,
  );
  const check = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  console.log(
    table(
      ['check', 'value', 'target', ''],
      [
        ['requests (cache routes)', `${total} (${(total / runSeconds).toFixed(0)}/s)`, '', ''],
        ['5xx responses', String(total5xx), '0', check(total5xx === 0)],
        [
          'client errors / timeouts',
          `${totalErrors} / ${result.timeouts}`,
          '0',
          check(totalErrors === 0),
        ],
        ['unhandled rejections in service output', String(unhandled), '0', check(unhandled === 0)],
        [
          'uncaught exceptions / error-level lines',
          `${uncaught} / ${errorLines}`,
          '0',
          check(uncaught + errorLines === 0),
        ],
        [
          'service RSS start / after cycle 1 / end / max',
          `${mib(rssAtStart)} / ${mib(rssAfterFirstCycle)} / ${mib(rssAtEnd)} / ${mib(Math.max(...rss.map((p) => p.v)))}`,
          HEAP_PROBE === 'gc' ? '' : 'flat',
          '',
        ],
        [
          'RSS growth after cycle 1 (slope)',
          `${Number.isFinite(growth) ? `${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB` : 'n/a'} (${Number.isFinite(slope) ? `${slope.toFixed(2)} MiB/min` : 'n/a'})`,
          HEAP_PROBE === 'gc' ? '' : '< 10%',
          HEAP_PROBE === 'gc' ? '' : check(rssFlat),
        ],
        ...(HEAP_PROBE === 'gc'
          ? [
              [
                'live heap after forced GC: cycle 1 / last 60 s (medians)',
                `${mib(heapEarly)} / ${mib(heapLate)} (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)} MiB)`,
                '< max(5 MiB, 15%)',
                check(heapFlat),
              ],
            ]
          : []),
        [
          'breaker closed after every recovery',
          `${closedCount}/${2 * cycles}, final state ${finalBreaker.state}`,
          'all',
          check(allClosed),
        ],
        ['breaker opens (transitions to open)', String(opens), '', ''],
        [
          'redis_cache calls: success / failure / rejected',
          `${calls('success')} / ${calls('failure')} / ${calls('rejected')}`,
          '',
          '',
        ],
        ['log events redis_cache: emitted / suppressed', `${emitted} / ${suppressed}`, '', ''],
        ['log-noise reduction', `${(reduction * 100).toFixed(3)}%`, '>= 99.9%', check(noiseOk)],
        [
          'service JSON log lines: all / breaker state changes / summaries',
          `${lines.length} / ${stateLines} / ${summaryLines}`,
          '',
          '',
        ],
        ['service exit code on SIGTERM', String(exitCode), '0', check(exitCode === 0)],
      ],
      ['l', 'r', 'l', 'l'],
    ),
  );
  console.log();
  console.log(
    table(
      ['phase', 'seconds', 'requests', '5xx', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'statuses'],
      all.map((p) => {
        const l = p.latencies.summary();
        return [
          p.kind,
          p.seconds.toFixed(0),
          String(p.requests),
          String(p.s5xx),
          String(p.errors),
          ms(l.p50),
          ms(l.p99),
          ms(l.max),
          [...p.codes]
            .sort((a, b) => a[0] - b[0])
            .map(([c, n]) => `${c}: ${n}`)
            .join(', '),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  console.log();
  console.log(
    table(
      ['cycle', 'fault', 'breaker closed after'],
      recoveries.map((r) => [
        String(r.cycle),
        r.fault,
        Number.isFinite(r.closedAfterMs)
          ? `${(r.closedAfterMs / 1000).toFixed(2)} s`
          : `not within ${CLOSE_TIMEOUT_MS / 1000} s`,
      ]),
      ['r', 'l', 'r'],
    ),
  );
  console.log();
  if (probes.length > 0) {
    console.log(
      `Heap probe (${HEAP_PROBE === 'gc' ? 'after a forced full GC' : 'no forced GC'}, every 10 s, MiB heapUsed/RSS): ${probes
        .map((p) => `${p.t.toFixed(0)}s:${p.heapUsed.toFixed(0)}/${p.rss.toFixed(0)}`)
        .join(' ')}; major GCs: ${probes.at(-1)?.majorGcs ?? 'n/a'}\n`,
    );
  }
  console.log(
    `RSS samples (every 2 s, MiB): ${rss
      .filter((_, i) => i % 5 === 0)
      .map((p) => `${p.t.toFixed(0)}s:${p.v.toFixed(0)}`)
      .join(' ')}`,
  );
  return pass ? 0 : 1;
}

await runScript(main);
