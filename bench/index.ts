/**
 * `npm run bench` (add `-- --quick` for a smoke run of a few seconds).
 *
 * Runs the micro-benchmarks and the heap runs in child processes started with --expose-gc
 * (npm's `tsx bench/index.ts` cannot pass it), then prints one report: ns per call with ratios
 * to the raw call, the heap growth per library, and the targets of issues #2 and #8.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CacheGetResult } from './cache-get.js';
import type { HeapResult, HeapSubject } from './heap.js';
import type { MicroCase, MicroResult } from './micro.js';

const quick = process.argv.includes('--quick');
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'breakerbox-bench-'));

function child<T>(script: string, args: string[]): T {
  const out = join(work, `${script}-${Date.now()}.json`);
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', `bench/${script}.ts`, ...args, '--out', out],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (result.status !== 0) throw new Error(`bench/${script}.ts exited with ${result.status}`);
  return JSON.parse(readFileSync(out, 'utf8')) as T;
}

function version(pkg: string): string {
  const json = JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8'));
  return (json as { version: string }).version;
}

function table(headers: string[], rows: string[][], align: Array<'l' | 'r'>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cell = (text: string, i: number): string =>
    align[i] === 'r' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  // The separator row as Prettier writes it, so the tables paste into Markdown unchanged.
  const rule = line(
    widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : `:${'-'.repeat(w - 1)}`)),
  );
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const ns = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const x = (v: number): string => `${v.toFixed(2)}x`;
const pass = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

const started = performance.now();
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`;
const versions = [
  `breakerbox ${version('..')}`,
  `opossum ${version('opossum')}`,
  `cockatiel ${version('cockatiel')}`,
  `@opentelemetry/sdk-metrics ${version('@opentelemetry/sdk-metrics')}`,
  `@opentelemetry/exporter-prometheus ${version('@opentelemetry/exporter-prometheus')}`,
  `@opentelemetry/sdk-node ${version('@opentelemetry/sdk-node')}`,
  `mitata ${version('mitata')}`,
].join(', ');
console.log(`breakerbox benchmarks${quick ? ' (--quick: smoke run, numbers are rough)' : ''}`);
console.log(
  `${machine}\n${versions}\nload average at the start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);

console.error('micro-benchmarks...');
const micro = child<MicroResult>('micro', quick ? ['--quick'] : []);
console.error('micro-benchmarks under the full NodeSDK...');
const microNodeSdk = child<MicroResult>('micro', quick ? ['--quick', '--nodesdk'] : ['--nodesdk']);

const heapCalls = quick ? 200_000 : 10_000_000;
const heapSubjects: HeapSubject[] = ['breakerbox-sdk', 'breakerbox', 'cockatiel', 'opossum'];
const heap: HeapResult[] = [];
for (const subject of heapSubjects) {
  console.error(`heap: ${subject}, ${heapCalls.toLocaleString('en-US')} calls...`);
  heap.push(child<HeapResult>('heap', ['--subject', subject, '--calls', String(heapCalls)]));
}
// Cache GET through the service against a bare ioredis GET on the same redis-server.
const cacheGet = child<CacheGetResult>('cache-get', quick ? ['--quick'] : []);
rmSync(work, { recursive: true, force: true });

const lookup =
  (result: MicroResult) =>
  (id: string): number => {
    const c: MicroCase | undefined = result.cases.find((k) => k.id === id);
    if (c === undefined) throw new Error(`no result for ${id}`);
    return c.ns;
  };
const get = lookup(micro);
const getNodeSdk = lookup(microNodeSdk);

function microTable(result: MicroResult): string {
  const base = result.cases.find((c) => c.id === 'raw')!.ns;
  return table(
    ['case', 'ns/call', 'x raw', 'round medians min..max'],
    result.cases.map((c) => [
      c.label,
      ns(c.ns),
      c.sync ? 'sync' : x(c.ns / base),
      `${ns(c.min)}..${ns(c.max)}`,
    ]),
    ['l', 'r', 'r', 'r'],
  );
}

console.log(
  `## ns per call: MeterProvider + Prometheus reader + BreakerDurationProducer + BreakerTelemetry\n`,
);
console.log(
  `Median of ${micro.rounds} rounds (after a warm-up round) of mitata's median; async cases timed in batches of ${micro.batch} awaited calls plus one event-loop turn; min_cpu_time ${micro.minCpuTimeMs} ms per case per round.\n`,
);
console.log(microTable(micro));
console.log(
  `\n## ns per call: the service's NodeSDK (global providers, AsyncLocalStorage context manager, tracer provider without exporter)\n`,
);
console.log(`Median of ${microNodeSdk.rounds} rounds, same method, separate process.\n`);
console.log(microTable(microNodeSdk));
console.log(
  `\n## heap growth over sequential closed-success calls (one process each; full GC before and after; SDK scraped every 1M calls)\n`,
);
console.log(
  table(
    ['subject', 'calls', 'seconds', 'ns/call', 'heap before MiB', 'growth MiB', 'peak above MiB'],
    heap.map((h) => [
      h.subject === 'breakerbox-sdk' ? 'breakerbox + OTel SDK' : h.subject,
      h.calls.toLocaleString('en-US'),
      h.seconds.toFixed(1),
      ns(h.nsPerCall),
      h.beforeMiB.toFixed(2),
      h.growthMiB.toFixed(3),
      h.peakAboveMiB.toFixed(2),
    ]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  ),
);

const ckClosed = get('ck.closed');
const ckOpen = get('ck.open');
const sdkHeap = heap.find((h) => h.subject === 'breakerbox-sdk')!;
const targets: string[][] = [
  [
    'closed + OTel SDK / cockatiel closed',
    x(get('bb.closed.sdk') / ckClosed),
    '<= 1x (stretch 0.5x)',
    pass(get('bb.closed.sdk') / ckClosed <= 1) +
      (get('bb.closed.sdk') / ckClosed <= 0.5 ? ' (stretch)' : ''),
  ],
  ['closed bare / cockatiel closed', x(get('bb.closed.bare') / ckClosed), '(info)', ''],
  [
    'closed bare, slowCall on / cockatiel closed',
    x(get('bb.closed.slow') / ckClosed),
    `within 5% of slowCall off (${x(get('bb.closed.bare') / ckClosed)})`,
    pass(get('bb.closed.slow') / get('bb.closed.bare') <= 1.05),
  ],
  [
    'closed + NodeSDK / cockatiel closed (NodeSDK run)',
    x(getNodeSdk('bb.closed.sdk') / getNodeSdk('ck.closed')),
    '(info)',
    '',
  ],
  [
    'open execute + OTel SDK / cockatiel open',
    x(get('bb.open.sdk') / ckOpen),
    '<= 0.25x',
    pass(get('bb.open.sdk') / ckOpen <= 0.25),
  ],
  [
    'open execute bare / cockatiel open',
    x(get('bb.open.bare') / ckOpen),
    '<= 0.25x',
    pass(get('bb.open.bare') / ckOpen <= 0.25),
  ],
  [
    'open execute bare, slowCall on / cockatiel open',
    x(get('bb.open.slow') / ckOpen),
    `within 5% of slowCall off (${x(get('bb.open.bare') / ckOpen)})`,
    pass(get('bb.open.slow') / get('bb.open.bare') <= 1.05),
  ],
  [
    'open execute + NodeSDK / cockatiel open (NodeSDK run)',
    x(getNodeSdk('bb.open.sdk') / getNodeSdk('ck.open')),
    '(info)',
    '',
  ],
  [
    'floor (preallocated reject) / cockatiel open',
    x(get('floor.reject') / ckOpen),
    '(info: ~0.17x)',
    '',
  ],
  [
    'tryAcquire() open, bare',
    `${ns(get('bb.try.bare'))} ns`,
    '< 50 ns',
    pass(get('bb.try.bare') < 50),
  ],
  [
    'tryAcquire() open, OTel SDK',
    `${ns(get('bb.try.sdk'))} ns`,
    '< 50 ns',
    pass(get('bb.try.sdk') < 50),
  ],
  ['tryAcquire() open, NodeSDK', `${ns(getNodeSdk('bb.try.sdk'))} ns`, '(info)', ''],
  [
    `heap growth, breakerbox + SDK, ${sdkHeap.calls.toLocaleString('en-US')} calls`,
    `${sdkHeap.growthMiB.toFixed(3)} MiB`,
    '< 1 MiB',
    pass(sdkHeap.growthMiB < 1),
  ],
];
const bareGet = cacheGet.cases[0]!.nsPerOp;
console.log('\n## cache GET vs bare ioredis GET (issue #12)\n');
console.log(
  table(
    ['case', 'µs/op', 'vs bare ioredis GET'],
    cacheGet.cases.map((c) => [c.name, (c.nsPerOp / 1000).toFixed(1), x(c.nsPerOp / bareGet)]),
    ['l', 'r', 'r'],
  ),
);
console.log(
  'Sequential awaited calls, median of 5 rounds; one private redis-server on loopback. L2 hit: an L1 miss, then one plain GET.',
);

console.log('\n## targets (issues #2 and #8)\n');
console.log(table(['target', 'measured', 'goal', ''], targets, ['l', 'r', 'l', 'l']));
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`\ntotal bench time ${((performance.now() - started) / 1000).toFixed(1)} s`);
