/**
 * The cost of protection: the cache GET route through the service (breaker, telemetry, L1,
 * Redis) against the same route written bare in a few lines of Hono + ioredis, in one run, on
 * one private redis-server.
 *
 *   npm run bench:cost -- [--duration 5] [--connections 50] [--keys 50000] [--rounds 10] [--profile DIR]
 *                         [--no-tracing]
 *
 * Routes: one hot key (the service answers from L1; the bare route asks Redis) and random keys
 * over --keys keys (the service mostly answers from Redis, its L1 holding 10,000). Columns:
 * bare; the service with metrics on and tracing off (the default); and with tracing on,
 * exporting OTLP/HTTP to a sink in this process that discards it. Load: wrk (Debian's package)
 * when installed, else autocannon; either way closed loop, --connections connections.
 * --profile DIR also writes a CPU profile of the service per route and prints where its time
 * goes.
 */
import { fork, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import {
  ensureBuilt,
  freePort,
  makeModels,
  RedisProcess,
  ROOT,
  ServiceProcess,
} from '@breakerbox/devkit';
import { topSelfTime, selfTimeByArea } from './support/cpu-profile.js';
import { machineLine, onCleanup, ratio, runScript, sleep, table } from './support/stack.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    keys: { type: 'string', default: '50000' },
    profile: { type: 'string' },
    'no-tracing': { type: 'boolean', default: false },
  },
});
const DURATION_S = Math.max(1, Math.min(300, Number(args.duration)));
const WARMUP_S = Math.max(1, Math.min(60, Number(args.warmup)));
const CONNECTIONS = Math.max(1, Math.min(1_000, Number(args.connections)));
const KEYS = Math.max(1, Math.min(1_000_000, Number(args.keys)));
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds)));
const HAS_WRK = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

type Route = 'hot' | 'random';
const VALUE = (i: number): unknown => ({ id: i, name: `item-${i}`, tags: ['a', 'b'], n: i * 7 });

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Ratios of a subject to bare, round by round (the two ran seconds apart, so a slow phase of
 * this shared machine hits both): their median and range. This machine's speed drifts by up
 * to 60% within a minute, which a ratio of medians taken minutes apart does not cancel.
 */
function pairedRatio(
  subject: Load[],
  bare: Load[],
  pick: (l: Load) => number,
): { median: number; min: number; max: number } {
  const ratios = subject.map((l, i) => pick(l) / pick(bare[i]!));
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

/** Each figure's median over the rounds (non-2xx: the total). */
function medianLoad(loads: Load[]): Load {
  return {
    rps: median(loads.map((l) => l.rps)),
    p50Ms: median(loads.map((l) => l.p50Ms)),
    p99Ms: median(loads.map((l) => l.p99Ms)),
    non2xx: loads.reduce((sum, l) => sum + l.non2xx, 0),
  };
}

// ------------------------------------------------------------------ load generators

function wrkScript(dir: string, prefix: string, route: Route): string {
  const path = join(dir, `${prefix.replace(/\W/g, '')}-${route}.lua`);
  const body =
    route === 'hot'
      ? `request = function() return wrk.format("GET", "${prefix}k0") end\n`
      : // One seed per wrk thread: with one seed for all, the threads would ask for the same
        // keys in the same order, so every key would be read twice within moments.
        `local threads = 0\nsetup = function(thread) threads = threads + 1; thread:set("id", threads) end\n` +
        `init = function() math.randomseed(42 + 7919 * id) end\n` +
        `request = function() return wrk.format("GET", "${prefix}k" .. math.random(0, ${KEYS - 1})) end\n`;
  writeFileSync(path, body);
  return path;
}

function parseWrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function runWrk(url: string, script: string, seconds: number): Promise<Load> {
  const { execFile } = await import('node:child_process');
  const out: string = await new Promise((resolve, reject) =>
    execFile(
      'wrk',
      ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url],
      { maxBuffer: 1 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    ),
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = parseWrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseWrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50Ms: p50, p99Ms: p99, non2xx };
}

async function runAutocannon(base: string, prefix: string, route: Route, seconds: number) {
  let seed = 42;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % KEYS;
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: route === 'hot' ? `${prefix}k0` : `${prefix}k${next()}`,
        }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
  };
}

async function load(base: string, prefix: string, route: Route, seconds: number, dir: string) {
  return HAS_WRK
    ? runWrk(base, wrkScript(dir, prefix, route), seconds)
    : runAutocannon(base, prefix, route, seconds);
}

// ------------------------------------------------------------------ subjects

async function startBare(redisPort: number): Promise<{ base: string; stop(): void }> {
  const port = await freePort();
  const child = fork(
    join(ROOT, 'bench/reference/bare-server.ts'),
    [String(port), String(redisPort)],
    {
      execArgv: ['--import', 'tsx'],
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
  });
  const stop = (): void => {
    child.kill('SIGKILL');
  };
  onCleanup(stop);
  return { base: `http://127.0.0.1:${port}`, stop };
}

/** A sink for OTLP/HTTP trace exports: reads and discards, answers 200. */
async function startOtlpSink(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${port}`, requests: () => requests };
}

async function seedService(service: ServiceProcess): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < KEYS) {
      const i = next++;
      const res = await service.fetch(`/v1/cache/k${i}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: VALUE(i), ttl_seconds: 3600 }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`seeding k${i}: HTTP ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

// ------------------------------------------------------------------ the run

async function main(): Promise<number> {
  ensureBuilt({ say: (line) => process.stderr.write(`${line}\n`) });
  const scratch = mkdtempSync(join(tmpdir(), 'breakerbox-cost-'));
  onCleanup(() => rmSync(scratch, { recursive: true, force: true }));
  const redis = await RedisProcess.start();
  onCleanup(() => redis.stop());
  const models = await makeModels();
  onCleanup(() => rmSync(models.dir, { recursive: true, force: true }));
  const sink = args['no-tracing'] ? undefined : await startOtlpSink();

  // Bare keys, written straight into Redis.
  const seeder = new Redis({ host: '127.0.0.1', port: redis.port });
  for (let start = 0; start < KEYS; start += 5_000) {
    const pipeline = seeder.pipeline();
    for (let i = start; i < Math.min(KEYS, start + 5_000); i++)
      pipeline.set(`bare:k${i}`, JSON.stringify(VALUE(i)), 'EX', 3600);
    await pipeline.exec();
  }
  seeder.disconnect();
  const bare = await startBare(redis.port);

  const serviceEnv = (extra: Record<string, string>): Record<string, string> => ({
    REDIS_URL: redis.url,
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: models.code,
    MODELS_DIR: models.dir,
    CACHE_JOURNAL_DIR: join(scratch, `journal-${Math.random().toString(36).slice(2)}`),
    ...extra,
  });
  const variants: Array<{ name: string; env: Record<string, string> }> = [
    { name: 'service', env: { OTEL_TRACES_EXPORTER: 'none' } },
  ];
  if (sink !== undefined) {
    variants.push({
      name: 'service+tracing',
      env: {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      },
    });
  }

  // Seed the service's own keys through its PUT route.
  const seeding = await ServiceProcess.start(serviceEnv({ OTEL_TRACES_EXPORTER: 'none' }));
  await seedService(seeding);
  await seeding.stop('SIGTERM');

  // Per route: every subject is started and warmed up once, then measured in ROUNDS
  // interleaved rounds (bare, service, service+tracing; then the reverse), so a noisy neighbour on
  // these shared cores hits every subject alike. Reported: the median of each subject's rounds.
  const results: Record<string, Record<Route, Load>> = {};
  const rounds: Record<string, Record<Route, Load[]>> = {};
  const profiles: Record<Route, string | undefined> = { hot: undefined, random: undefined };
  for (const route of ['hot', 'random'] as const) {
    const subjects: Array<{ name: string; base: string; stop?: () => Promise<void> }> = [
      { name: 'bare', base: bare.base },
    ];
    for (const variant of variants) {
      const profileDir =
        args.profile !== undefined && variant.name === 'service'
          ? join(args.profile, route)
          : undefined;
      if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
      const service = await ServiceProcess.start(serviceEnv(variant.env), {
        nodeArgs: profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      });
      onCleanup(() => service.stop('SIGKILL'));
      if (profileDir !== undefined) profiles[route] = profileDir;
      subjects.push({
        name: variant.name,
        base: service.baseUrl,
        stop: () => service.stop('SIGTERM').then(() => undefined),
      });
    }
    for (const subject of subjects) {
      process.stderr.write(`${subject.name}, ${route}: warm-up...\n`);
      await load(subject.base, '/v1/cache/', route, WARMUP_S, scratch);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      // Every other round runs the subjects in reverse order (bare, service, ...; ..., service,
      // bare): a machine speeding up or slowing down during a round favours no subject.
      const order = round % 2 === 1 ? subjects : [...subjects].reverse();
      for (const subject of order) {
        process.stderr.write(`${subject.name}, ${route}: round ${round}/${ROUNDS}...\n`);
        const measured = await load(subject.base, '/v1/cache/', route, DURATION_S, scratch);
        ((rounds[subject.name] ??= {} as Record<Route, Load[]>)[route] ??= []).push(measured);
      }
    }
    for (const subject of subjects) {
      (results[subject.name] ??= {} as Record<Route, Load>)[route] = medianLoad(
        rounds[subject.name]![route]!,
      );
      await subject.stop?.();
    }
    await sleep(200);
  }
  bare.stop();

  const line = (route: Route): string[] => {
    const b = results.bare![route];
    const s = results.service![route];
    const t = results['service+tracing']?.[route];
    return [
      route === 'hot' ? 'one hot key (service: L1)' : `${KEYS} random keys (service: mostly L2)`,
      `${(b.rps / 1000).toFixed(1)}k`,
      `${(s.rps / 1000).toFixed(1)}k`,
      ratio(s.rps / b.rps),
      `${b.p99Ms.toFixed(2)} ms`,
      `${s.p99Ms.toFixed(2)} ms`,
      ratio(s.p99Ms / b.p99Ms),
      t === undefined ? '-' : `${(t.rps / 1000).toFixed(1)}k (${ratio(t.rps / b.rps)})`,
    ];
  };
  console.log(`\n## Cost of protection (${machineLine()})\n`);
  console.log(
    `${HAS_WRK ? 'wrk -t2' : 'autocannon'}, ${CONNECTIONS} connections; per route every subject warmed up ${WARMUP_S} s, then ${ROUNDS} interleaved rounds (order reversed every other round) of ${DURATION_S} s each; medians of the rounds; one private redis-server.\n`,
  );
  console.log(
    table(
      [
        'route',
        'bare req/s',
        'service req/s',
        'ratio',
        'bare p99',
        'service p99',
        'p99 ratio',
        'tracing on req/s (ratio)',
      ],
      [line('hot'), line('random')],
    ),
  );
  // Round by round: each subject's ratio to the bare round just before it.
  const paired = (name: string, route: Route, pick: (l: Load) => number) =>
    pairedRatio(rounds[name]![route]!, rounds.bare![route]!, pick);
  const span = (r: { median: number; min: number; max: number }): string =>
    `${ratio(r.median)} (${ratio(r.min)}-${ratio(r.max)})`;
  const subjects = Object.keys(rounds).filter((name) => name !== 'bare');
  console.log(
    `\nRatios to bare, round by round: the median of the ${ROUNDS} rounds' ratios (and their range).\n`,
  );
  console.log(
    table(
      ['subject', 'route', 'req/s ratio', 'p99 ratio'],
      subjects.flatMap((name) =>
        (['hot', 'random'] as const).map((route) => [
          name,
          route,
          span(paired(name, route, (l) => l.rps)),
          span(paired(name, route, (l) => l.p99Ms)),
        ]),
      ),
    ),
  );
  const hot = paired('service', 'hot', (l) => l.rps).median;
  const random = paired('service', 'random', (l) => l.rps).median;
  const p99 = Math.max(
    paired('service', 'hot', (l) => l.p99Ms).median,
    paired('service', 'random', (l) => l.p99Ms).median,
  );
  console.log(
    `\nTargets (round-by-round medians): hot key >= 1.0x: ${hot >= 1 ? 'pass' : 'FAIL'} (${ratio(hot)}); random keys >= 0.8x: ${random >= 0.8 ? 'pass' : 'FAIL'} (${ratio(random)}); p99 <= 1.5x bare: ${p99 <= 1.5 ? 'pass' : 'FAIL'} (${ratio(p99)}).`,
  );
  const errors = Object.entries(results).flatMap(([name, byRoute]) =>
    Object.entries(byRoute)
      .filter(([, l]) => l.non2xx > 0)
      .map(([route, l]) => `${name}/${route}: ${l.non2xx} non-2xx`),
  );
  if (errors.length > 0) console.log(`Non-2xx answers: ${errors.join(', ')}`);
  if (sink !== undefined)
    console.log(`OTLP export requests received by the sink: ${sink.requests()}`);

  for (const route of ['hot', 'random'] as const) {
    const dir = profiles[route];
    if (dir === undefined) continue;
    console.log(`\n### Where the service's time goes: ${route} (CPU profile, self time)\n`);
    const areas = Object.entries(selfTimeByArea(dir)).sort((a, b) => b[1] - a[1]);
    console.log(
      table(
        ['area', 'share'],
        areas.map(([area, share]) => [area, `${(share * 100).toFixed(1)}%`]),
      ),
    );
    console.log('');
    console.log(
      table(
        ['self', 'function', 'where'],
        topSelfTime(dir, ROOT, 15).map((e) => [
          `${(e.selfShare * 100).toFixed(1)}%`,
          e.name,
          e.where,
        ]),
      ),
    );
  }
  return 0;
}

void runScript(main);
