/**
 * Cache GET latency while Redis is blackholed: the `redis_cache` breaker open versus no breaker
 * (disabled through the admin route, so every Redis read waits for the command timeout).
 * Issue #3's last bullet; the target: an open-breaker GET under 1 ms, against a 5,000 ms
 * connection timeout without a breaker.
 *
 *   npx tsx bench/cache-outage.ts [--n 200] [--n-disabled 20] [--timeout-ms 500]
 *
 * Sequential requests at the HTTP level (one keep-alive connection, timed from send to the end
 * of the body) against the real service (`node dist/main.js`) whose Redis sits behind a TCP
 * fault proxy in blackhole mode (connections accepted, bytes swallowed, no answer, no reset).
 * Keys are ones L1 does not hold, so every GET needs Redis; L1 hits are shown for reference.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  closeAgent,
  histogramDelta,
  Latencies,
  machineLine,
  ms,
  ratio,
  runScript,
  sleep,
  Stack,
  table,
  timedRequest,
  type LatencySummary,
} from './support/stack.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    'n-disabled': { type: 'string', default: '40' },
    'timeout-ms': { type: 'string', default: '500' },
  },
});
const N = Math.max(10, Math.min(100_000, Number(args.n)));
const N_DISABLED = Math.max(3, Math.min(1_000, Number(args['n-disabled'])));
const TIMEOUT_MS = Number(args['timeout-ms']);
const HOT_KEYS = 50;
const PACE_MS = 20;

interface Row extends Measured {
  scenario: string;
  keys: string;
}

interface Measured {
  summary: LatencySummary;
  statuses: string;
  header: string;
  /** Requests that took at least 90% of the command timeout. */
  waited: number;
}

/**
 * `count` GETs one after the other. `paceMs` > 0 starts them at most every `paceMs` (a request
 * that ends late starts the next at once), so that short windows where the Redis client fails
 * fast (reconnecting) are not over-sampled by a client that fires as fast as answers come.
 */
async function sequential(
  stack: Stack,
  count: number,
  key: (i: number) => string,
  warmup: number,
  paceMs = 0,
): Promise<Measured> {
  for (let i = 0; i < warmup; i++) await timedRequest(`${stack.baseUrl}/v1/cache/${key(-1 - i)}`);
  const latencies = new Latencies();
  const statuses = new Map<number, number>();
  let withHeader = 0;
  let waited = 0;
  let next = performance.now();
  for (let i = 0; i < count; i++) {
    if (paceMs > 0) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + paceMs, performance.now());
    }
    const res = await timedRequest(`${stack.baseUrl}/v1/cache/${key(i)}`);
    latencies.push(res.ms);
    if (res.ms >= 0.9 * TIMEOUT_MS) waited++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.headers['x-circuit-open'] === 'redis_cache') withHeader++;
  }
  return {
    summary: latencies.summary(),
    statuses: [...statuses]
      .sort()
      .map(([s, n]) => `${n}x${s}`)
      .join(' '),
    header: `${withHeader}/${count}`,
    waited,
  };
}

async function main(): Promise<number> {
  const stack = await Stack.start({
    env: { REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS), LOG_LEVEL: 'info' },
  });
  const url = (key: string): string => `${stack.baseUrl}/v1/cache/${key}`;
  for (let i = 0; i < HOT_KEYS; i++) await stack.put(`hot:${i}`, { i, payload: 'x'.repeat(64) });
  const hot = (i: number): string => `hot:${((i % HOT_KEYS) + HOT_KEYS) % HOT_KEYS}`;
  const rows: Row[] = [];
  const add = (scenario: string, keys: string, r: Measured): Row => {
    const row = { scenario, keys, ...r };
    rows.push(row);
    process.stderr.write(
      `  ${scenario} / ${keys}: p50 ${ms(r.summary.p50)} ms, p99 ${ms(r.summary.p99)} ms\n`,
    );
    return row;
  };

  process.stderr.write('Redis healthy...\n');
  add(
    'Redis healthy (reference)',
    'L1 miss',
    await sequential(stack, N, (i) => `cold:ok:${i}`, 20),
  );
  add('Redis healthy (reference)', 'L1 hit', await sequential(stack, N, hot, 20));

  process.stderr.write('Blackholing Redis and letting the breaker open...\n');
  await stack.proxy.setMode('blackhole');
  // More than the threshold (default 5) of concurrent reads, each waiting for the timeout.
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => timedRequest(url(`cold:trip:${i}`)).catch(() => null)),
  );
  await stack.waitForState('open', 10_000);
  const proxyBefore = await stack.proxy.resetCounters();
  const metricsBefore = await stack.metrics();
  const open = add(
    'Blackholed, breaker open',
    'L1 miss',
    await sequential(stack, N, (i) => `cold:open:${i}`, 20),
  );
  add('Blackholed, breaker open', 'L1 hit', await sequential(stack, N, hot, 20));
  const metricsAfter = await stack.metrics();
  const proxyAfter = await stack.proxy.stats();
  const stateAfterOpen = (await stack.breaker()).state;
  const rejected = histogramDelta(
    metricsBefore,
    metricsAfter,
    'circuit_breaker_call_duration_bucket',
    { circuit_breaker_name: 'redis_cache', outcome: 'rejected' },
  );

  process.stderr.write(
    `Disabling the breaker (every Redis read now waits up to ${TIMEOUT_MS} ms)...\n`,
  );
  await stack.admin('disable');
  const disabled = add(
    'Blackholed, no breaker (disabled)',
    'L1 miss',
    await sequential(stack, N_DISABLED, (i) => `cold:off:${i}`, 2, PACE_MS),
  );
  add('Blackholed, no breaker (disabled)', 'L1 hit', await sequential(stack, N, hot, 20));

  await stack.proxy.setMode('pass');
  await stack.admin('reset');
  const exitCode = await stack.stop();
  closeAgent();

  console.log(`## Cache GET latency while Redis is blackholed (bench/cache-outage.ts)\n`);
  console.log(`${machineLine()}\n`);
  console.log(
    `Service: node dist/main.js, REDIS_COMMAND_TIMEOUT_MS=${TIMEOUT_MS}, breaker defaults ` +
      `(threshold 5, recovery 30 s, 1 half-open call). Sequential GETs over one keep-alive ` +
      `connection, latency from send to end of body. "L1 miss" keys are in no cache level, so ` +
      `each GET needs Redis (404 when healthy); "L1 hit" keys are answered by L1 alone. The ` +
      `no-breaker L1-miss run is paced at one request per ${PACE_MS} ms.\n`,
  );
  console.log(
    table(
      [
        'scenario',
        'keys',
        'n',
        'p50 ms',
        'p99 ms',
        'max ms',
        'mean ms',
        'statuses',
        'x-circuit-open',
        `>= ${0.9 * TIMEOUT_MS} ms`,
      ],
      rows.map((r) => [
        r.scenario,
        r.keys,
        String(r.summary.count),
        ms(r.summary.p50),
        ms(r.summary.p99),
        ms(r.summary.max),
        ms(r.summary.mean),
        r.statuses,
        r.header,
        String(r.waited),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r'],
    ),
  );
  console.log();
  console.log(
    table(
      ['L1-miss GET while blackholed', 'no breaker ms', 'breaker open ms', 'no breaker / open'],
      [
        [
          'p50',
          ms(disabled.summary.p50),
          ms(open.summary.p50),
          ratio(disabled.summary.p50 / open.summary.p50),
        ],
        [
          'p99',
          ms(disabled.summary.p99),
          ms(open.summary.p99),
          ratio(disabled.summary.p99 / open.summary.p99),
        ],
        [
          'mean',
          ms(disabled.summary.mean),
          ms(open.summary.mean),
          ratio(disabled.summary.mean / open.summary.mean),
        ],
      ],
    ),
  );
  console.log();
  console.log(
    `Inside the service, the breaker's rejections during the open run (circuit_breaker_call_duration, ` +
      `${rejected.count} calls): p50 <= ${fmtBound(rejected.quantile(0.5))}, p99 <= ${fmtBound(rejected.quantile(0.99))} (bucket upper bounds).`,
  );
  const underOneMs = open.summary.p50 < 1;
  console.log(
    `Target "under 1 ms" with the breaker open, HTTP round trip included: p50 ${ms(open.summary.p50)} ms ` +
      `(${underOneMs ? 'PASS' : 'FAIL'}), p99 ${ms(open.summary.p99)} ms.`,
  );
  console.log(
    `Bytes sent towards Redis while the breaker was open (${2 * N + 40} requests): ` +
      `${proxyAfter.bytesFromClients - proxyBefore.bytesFromClients} (new connections ` +
      `${proxyAfter.connectionsAccepted}); breaker state after: ${stateAfterOpen}. ` +
      `Service exit code on SIGTERM: ${exitCode}.`,
  );
  return underOneMs ? 0 : 1;
}

function fmtBound(seconds: number): string {
  if (!Number.isFinite(seconds)) return '+Inf';
  return seconds < 1e-3 ? `${(seconds * 1e6).toFixed(1)} us` : `${(seconds * 1e3).toFixed(2)} ms`;
}

await runScript(main);
