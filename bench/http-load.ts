/**
 * HTTP load on the cache GET route (issue #8): (a) Redis healthy; (b) Redis blackholed and the
 * `redis_cache` breaker open; (c) Redis blackholed with the breaker disabled (admin route), so
 * every read that needs Redis waits for the command timeout.
 *
 *   npx tsx bench/http-load.ts [--duration 10] [--connections 50] [--rates 100,1000]
 *                              [--l1-share 0.5] [--warmup 2] [--timeout-ms 500]
 *
 * Against the real service (`node dist/main.js`), whose Redis sits behind a TCP fault proxy
 * running in a child process. Each scenario runs:
 * - saturating: autocannon (as a library), `--connections` connections, closed loop (each
 *   connection sends its next request when the previous one answered): throughput, and latency
 *   that is mostly queueing in the single-threaded service;
 * - paced at each of `--rates` requests/s: an open-loop generator (evenly spaced requests over
 *   up to `--connections` keep-alive connections, latency counted from each request's due
 *   time). autocannon's own rate limit is not used: it sends each connection's quota for a
 *   second back to back at the start of the second, which measures the burst, not the route.
 *   Scenario (c) is skipped at rates above its capacity (connections / (miss share x timeout)).
 *
 * Key mix: `--l1-share` of the GETs read one of 1,000 keys written beforehand (L1 hits, 200);
 * the rest read a fresh key that no level holds (L1 miss, so Redis is asked: 404 when healthy;
 * skipped with `x-circuit-open` while the breaker is open).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  Latencies,
  machineLine,
  ms,
  ratio,
  runScript,
  Stack,
  sumMetric,
  table,
  timedRequest,
  prng,
  closeAgent,
  openLoop,
  type LatencySummary,
} from './support/stack.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    rates: { type: 'string', default: '100,1000' },
    'l1-share': { type: 'string', default: '0.5' },
    'timeout-ms': { type: 'string', default: '500' },
  },
});
const DURATION_S = Math.max(1, Math.min(600, Number(args.duration)));
const WARMUP_S = Math.max(0, Math.min(60, Number(args.warmup)));
const CONNECTIONS = Math.max(1, Math.min(1_000, Number(args.connections)));
const RATES = (args.rates ?? '')
  .split(',')
  .filter((r) => r.trim() !== '')
  .map((r) => Math.max(1, Math.min(100_000, Number(r))));
const L1_SHARE = Math.max(0, Math.min(1, Number(args['l1-share'])));
const TIMEOUT_MS = Number(args['timeout-ms']);
const HOT_KEYS = 1_000;

interface ScenarioResult {
  scenario: string;
  load: string;
  seconds: number;
  responses: number;
  rps: number;
  all: LatencySummary;
  hit: LatencySummary;
  miss: LatencySummary;
  statuses: string;
  errors: number;
  probes: number;
  bytesToRedis: number;
}

interface Run {
  all: Latencies;
  hit: Latencies;
  miss: Latencies;
  codes: Map<number, number>;
  errors: number;
  seconds: number;
}

/** Picks the key of request i: an L1 key with probability L1_SHARE, else a fresh cold key. */
function keyPicker(): (i: number) => string {
  const random = prng(8);
  return (i) =>
    random() < L1_SHARE
      ? `/v1/cache/hot:${Math.floor(random() * HOT_KEYS)}`
      : `/v1/cache/cold:${i.toString(36)}`;
}

/** Saturating (rate undefined: autocannon, closed loop) or paced (openLoop) GETs. */
async function load(
  stack: Stack,
  seconds: number,
  rate: number | undefined,
  record: boolean,
): Promise<Run> {
  const run: Run = {
    all: new Latencies(),
    hit: new Latencies(),
    miss: new Latencies(),
    codes: new Map(),
    errors: 0,
    seconds: 0,
  };
  const onResponse = (status: number, latency: number): void => {
    if (!record) return;
    run.all.push(latency);
    (status === 200 ? run.hit : run.miss).push(latency);
    run.codes.set(status, (run.codes.get(status) ?? 0) + 1);
  };
  const pick = keyPicker();
  const started = performance.now();
  if (rate !== undefined) {
    const out = await openLoop({
      url: (i) => `${stack.baseUrl}${pick(i)}`,
      rate,
      seconds,
      connections: CONNECTIONS,
      onResponse,
    });
    run.errors = out.errors;
  } else {
    let seq = 0;
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: stack.baseUrl,
          connections: CONNECTIONS,
          duration: seconds,
          pipelining: 1,
          timeout: 10,
          requests: [
            {
              method: 'GET',
              path: '/v1/cache/hot:0',
              setupRequest: (req) => ({ ...req, path: pick(seq++) }),
            },
          ],
        },
        (err, res) =>
          err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res),
      );
      instance.on('response', (_client, status, _bytes, responseTime) =>
        onResponse(status, responseTime),
      );
      instance.on('reqError', () => {
        if (record) run.errors++;
      });
    });
    if (record) run.errors = Math.max(run.errors, result.errors);
  }
  run.seconds = (performance.now() - started) / 1000;
  return run;
}

async function scenario(
  stack: Stack,
  name: string,
  rate: number | undefined,
): Promise<ScenarioResult> {
  const loadName = loadLabel(rate);
  process.stderr.write(`${name}, ${loadName}: warm-up ${WARMUP_S} s, then ${DURATION_S} s...\n`);
  if (WARMUP_S > 0) await load(stack, WARMUP_S, rate, false);
  const before = await stack.metrics();
  const proxyBefore = await stack.proxy.stats();
  const run = await load(stack, DURATION_S, rate, true);
  const after = await stack.metrics();
  const proxyAfter = await stack.proxy.stats();
  const probes =
    sumMetric(after, 'circuit_breaker_transitions_total', {
      circuit_breaker_name: 'redis_cache',
      to_state: 'half_open',
    }) -
    sumMetric(before, 'circuit_breaker_transitions_total', {
      circuit_breaker_name: 'redis_cache',
      to_state: 'half_open',
    });
  const responses = run.all.count;
  const r: ScenarioResult = {
    scenario: name,
    load: loadName,
    seconds: run.seconds,
    responses,
    // Paced runs: the offered rate window (the drain of the last answers is not load time).
    rps: responses / (rate === undefined ? run.seconds : DURATION_S),
    all: run.all.summary(),
    hit: run.hit.summary(),
    miss: run.miss.summary(),
    statuses: [...run.codes]
      .sort((a, b) => a[0] - b[0])
      .map(([code, n]) => `${code}: ${n}`)
      .join(', '),
    errors: run.errors,
    probes,
    bytesToRedis: proxyAfter.bytesFromClientsTotal - proxyBefore.bytesFromClientsTotal,
  };
  process.stderr.write(
    `  ${r.rps.toFixed(0)} req/s, p50 ${ms(r.all.p50)} ms, p99 ${ms(r.all.p99)} ms, p99.9 ${ms(r.all.p999)} ms (${r.statuses})\n`,
  );
  return r;
}

const loadLabel = (rate: number | undefined): string =>
  rate === undefined ? `saturating, ${CONNECTIONS} conn` : `paced ${rate}/s`;

async function main(): Promise<number> {
  const stack = await Stack.start({
    env: { REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS), LOG_LEVEL: 'info' },
  });
  process.stderr.write(`writing ${HOT_KEYS} keys...\n`);
  for (let i = 0; i < HOT_KEYS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        stack.put(`hot:${i + j}`, { n: i + j, text: 'v'.repeat(80) }),
      ),
    );
  }
  const loads: Array<number | undefined> = [undefined, ...RATES];
  // Without the breaker each L1-miss read holds a connection for the command timeout.
  const capacityC = CONNECTIONS / Math.max(0.01, (1 - L1_SHARE) * (TIMEOUT_MS / 1000));
  const results: ScenarioResult[] = [];
  const skipped: string[] = [];

  for (const rate of loads) results.push(await scenario(stack, '(a) Redis healthy', rate));

  await stack.proxy.setMode('blackhole');
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      timedRequest(`${stack.baseUrl}/v1/cache/trip:${i}`).catch(() => null),
    ),
  );
  await stack.waitForState('open', 10_000);
  for (const rate of loads) {
    // A half-open probe that failed leaves it open again; wait in case one is in flight.
    if ((await stack.breaker()).state !== 'open') await stack.waitForState('open', 10_000);
    results.push(await scenario(stack, '(b) blackholed, breaker open', rate));
  }

  await stack.admin('disable');
  for (const rate of loads) {
    if (rate !== undefined && rate > 0.75 * capacityC) {
      skipped.push(
        `(c) at ${rate}/s not run: above the no-breaker capacity of about ${capacityC.toFixed(0)} req/s ` +
          `(${CONNECTIONS} connections, ${Math.round((1 - L1_SHARE) * 100)}% of requests holding one ` +
          `for ${TIMEOUT_MS} ms), so an open-loop client's queue would grow without bound.`,
      );
      continue;
    }
    results.push(await scenario(stack, '(c) blackholed, no breaker', rate));
  }

  await stack.proxy.setMode('pass');
  await stack.admin('reset');
  const logLines = stack.service.logLines();
  const errorLines = logLines.filter((l) => typeof l.level === 'number' && l.level >= 50).length;
  const exitCode = await stack.stop();
  closeAgent();

  console.log(`## HTTP load on GET /v1/cache/:key (bench/http-load.ts)\n`);
  console.log(`${machineLine()}\n`);
  console.log(
    `${DURATION_S} s per run after ${WARMUP_S} s warm-up. Saturating: autocannon ${CONNECTIONS} ` +
      `connections, closed loop. Paced: open loop, evenly spaced, up to ${CONNECTIONS} ` +
      `keep-alive connections, latency counted from each request's due time. ` +
      `${Math.round(L1_SHARE * 100)}% of GETs read one of ${HOT_KEYS} keys held in L1 (200), ` +
      `${Math.round((1 - L1_SHARE) * 100)}% a key no level holds (L1 miss -> Redis; 404). ` +
      `REDIS_COMMAND_TIMEOUT_MS=${TIMEOUT_MS}, breaker defaults (threshold 5, recovery 30 s). ` +
      `Service, load generator, fault proxy and redis-server share the machine's cores.\n`,
  );
  console.log(
    table(
      [
        'scenario',
        'load',
        'req/s',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'max ms',
        'L1-hit p99',
        'L1-miss p50',
        'L1-miss p99',
        'statuses',
        'errors',
        'probes',
        'bytes to Redis',
      ],
      results.map((r) => [
        r.scenario,
        r.load,
        r.rps.toFixed(0),
        ms(r.all.p50),
        ms(r.all.p99),
        ms(r.all.p999),
        ms(r.all.max),
        ms(r.hit.p99),
        ms(r.miss.p50),
        ms(r.miss.p99),
        r.statuses,
        String(r.errors),
        String(r.probes),
        String(r.bytesToRedis),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
    ),
  );
  for (const line of skipped) console.log(`\n${line}`);
  console.log();
  const rows: string[][] = [];
  let pass = true;
  for (const rate of loads) {
    const find = (prefix: string): ScenarioResult | undefined =>
      results.find((r) => r.scenario.startsWith(prefix) && r.load === loadLabel(rate));
    const a = find('(a)')!;
    const b = find('(b)')!;
    const c = find('(c)');
    const bOverA = b.all.p99 / a.all.p99;
    // "No slower than healthy", with 10% tolerance for run-to-run noise on a shared machine.
    const okBA = bOverA <= 1.1;
    const cOverB = c === undefined ? NaN : c.all.p99 / b.all.p99;
    const okCB = c === undefined ? undefined : cOverB >= 100;
    pass &&= okBA && okCB !== false;
    rows.push([
      loadLabel(rate),
      `${ratio(b.all.p50 / a.all.p50)} / ${ratio(bOverA)} / ${ratio(b.all.p999 / a.all.p999)}`,
      okBA ? 'PASS' : 'FAIL',
      c === undefined ? 'not run' : `${ratio(c.all.p50 / b.all.p50)} / ${ratio(cOverB)}`,
      okCB === undefined ? '-' : okCB ? 'PASS' : 'FAIL',
      c === undefined ? '-' : ratio(c.miss.p99 / b.miss.p99),
    ]);
  }
  console.log(
    table(
      [
        'load',
        '(b)/(a) p50 / p99 / p99.9',
        '(b) <= (a) at p99',
        '(c)/(b) p50 / p99',
        '(c) >= 100x (b) at p99',
        '(c)/(b) p99, L1-miss reads',
      ],
      rows,
      ['l', 'r', 'l', 'r', 'l', 'r'],
    ),
  );
  console.log();
  console.log(
    `Service error-level log lines: ${errorLines}; exit code on SIGTERM: ${exitCode}. "probes": ` +
      `open -> half_open transitions during the run; "bytes to Redis": bytes the service sent ` +
      `towards Redis through the proxy during the run.`,
  );
  return pass ? 0 : 1;
}

await runScript(main);
