/**
 * Cache GET latency while Redis is blackholed: the `redis_cache` breaker open versus no breaker
 * (disabled through the admin route, so every Redis read waits for the command timeout).
 * Issue #3's last bullet; the plan promised "under 1 ms against 5,000 ms".
 *
 *   npx tsx bench/cache-outage.ts [--n 200] [--n-disabled 20] [--timeout-ms 500]
 *
 * Sequential requests at the HTTP level (one keep-alive connection, timed from send to the end
 * of the body) against the real service (`node dist/main.js`) whose Redis sits behind a TCP
 * fault proxy in blackhole mode (connections accepted, bytes swallowed, no answer, no reset).
 * Keys are ones L1 does not hold, so every GET needs Redis; L1 hits are shown for reference.
 */
import { parseArgs } from 'node:util';
import {
  closeAgent,
  Latencies,
  machineLine,
  ms,
  ratio,
  runScript,
  Stack,
  table,
  timedRequest,
  type LatencySummary,
} from './support/stack.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    'n-disabled': { type: 'string', default: '20' },
    'timeout-ms': { type: 'string', default: '500' },
  },
});
const N = Math.max(10, Math.min(100_000, Number(args.n)));
const N_DISABLED = Math.max(3, Math.min(1_000, Number(args['n-disabled'])));
const TIMEOUT_MS = Number(args['timeout-ms']);
const HOT_KEYS = 50;

interface Row {
  scenario: string;
  keys: string;
  summary: LatencySummary;
  statuses: string;
  header: string;
}

async function sequential(
  stack: Stack,
  count: number,
  key: (i: number) => string,
  warmup: number,
): Promise<{ summary: LatencySummary; statuses: string; header: string }> {
  for (let i = 0; i < warmup; i++) await timedRequest(`${stack.baseUrl}/v1/cache/${key(-1 - i)}`);
  const latencies = new Latencies();
  const statuses = new Map<number, number>();
  let withHeader = 0;
  for (let i = 0; i < count; i++) {
    const res = await timedRequest(`${stack.baseUrl}/v1/cache/${key(i)}`);
    latencies.push(res.ms);
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
  const add = (
    scenario: string,
    keys: string,
    r: { summary: LatencySummary; statuses: string; header: string },
  ): void => {
    rows.push({ scenario, keys, ...r });
    process.stderr.write(`  ${scenario} / ${keys}: p50 ${ms(r.summary.p50)} ms\n`);
  };

  process.stderr.write('Redis healthy...\n');
  add(
    'Redis healthy (reference)',
    'L1 miss -> Redis',
    await sequential(stack, N, (i) => `cold:healthy:${i}`, 20),
  );
  add('Redis healthy (reference)', 'L1 hit', await sequential(stack, N, hot, 20));

  process.stderr.write('Blackholing Redis and letting the breaker open...\n');
  await stack.proxy.setMode('blackhole');
  // Threshold (default 5) concurrent reads that each wait for the command timeout.
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => timedRequest(url(`cold:trip:${i}`)).catch(() => undefined)),
  );
  await stack.waitForState('open', 10_000);
  const before = await stack.proxy.resetCounters();
  add(
    'Blackholed, breaker open',
    'L1 miss -> Redis',
    await sequential(stack, N, (i) => `cold:open:${i}`, 20),
  );
  add('Blackholed, breaker open', 'L1 hit', await sequential(stack, N, hot, 20));
  const during = await stack.proxy.stats();
  const stateAfterOpen = (await stack.breaker()).state;

  process.stderr.write(
    `Disabling the breaker (every Redis read now waits up to ${TIMEOUT_MS} ms)...\n`,
  );
  await stack.admin('disable');
  add(
    'Blackholed, no breaker (disabled)',
    'L1 miss -> Redis',
    await sequential(stack, N_DISABLED, (i) => `cold:disabled:${i}`, 2),
  );
  add('Blackholed, no breaker (disabled)', 'L1 hit', await sequential(stack, N, hot, 20));

  await stack.proxy.setMode('pass');
  await stack.admin('reset');
  const exitCode = await stack.stop();
  closeAgent();

  const open = rows.find((r) => r.scenario.includes('open') && r.keys.startsWith('L1 miss'))!;
  const disabled = rows.find((r) => r.scenario.includes('disabled') && r.keys.startsWith('L1 miss'))!;
  console.log(`## Cache GET latency while Redis is blackholed (bench/cache-outage.ts)\n`);
  console.log(`${machineLine()}`);
  console.log(
    `Service: node dist/main.js, REDIS_COMMAND_TIMEOUT_MS=${TIMEOUT_MS}, breaker defaults ` +
      `(threshold 5, recovery 30 s, 1 half-open call). Sequential GETs over one keep-alive ` +
      `connection, latency from send to end of body.\n`,
  );
  console.log(
    table(
      ['scenario', 'keys', 'n', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'statuses', 'x-circuit-open'],
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
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
    ),
  );
  console.log();
  console.log(
    table(
      ['L1-miss GET while blackholed', 'no breaker', 'breaker open', 'ratio'],
      [
        ['p50', ms(disabled.summary.p50), ms(open.summary.p50), ratio(disabled.summary.p50 / open.summary.p50)],
        ['p99', ms(disabled.summary.p99), ms(open.summary.p99), ratio(disabled.summary.p99 / open.summary.p99)],
      ],
    ),
  );
  console.log();
  const underOneMs = open.summary.p99 < 1;
  console.log(
    `Plan's promise "under 1 ms" (breaker open, p99 at the HTTP level): ${ms(open.summary.p99)} ms -> ${underOneMs ? 'PASS' : 'FAIL'}.`,
  );
  console.log(
    `Bytes sent towards Redis while the breaker was open (${2 * N + 40} requests): ${during.bytesFromClients - before.bytesFromClients}` +
      ` (new connections: ${during.connectionsAccepted}); breaker state after: ${stateAfterOpen}.`,
  );
  console.log(`Service exit code on SIGTERM: ${exitCode}.`);
  return underOneMs ? 0 : 1;
}

await runScript(main);
