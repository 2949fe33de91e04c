/**
 * Shared plumbing for the load scripts (bench/cache-outage.ts, bench/http-load.ts,
 * bench/soak.ts): build dist/ if needed, start the real service (as `npm start` runs it) against
 * a private redis-server behind a fault proxy, talk to it, and clean everything up on every
 * exit path (normal end, error, SIGINT/SIGTERM).
 *
 * Loopback only: every process listens on 127.0.0.1, on free ports.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  ensureBuilt,
  makeModels,
  RedisProcess,
  RemoteProxy,
  ROOT,
  ServiceProcess,
  sleep,
} from '@breakerbox/devkit';
import { seededRandom } from 'breakerbox';

export { ROOT, sleep };
export const REDIS_BREAKER = 'redis_cache';
export const ADMIN_TOKEN = 'bench-admin-token-0123456789';

// ------------------------------------------------------------------ cleanup

type Cleanup = () => unknown;
const cleanups: Cleanup[] = [];
const syncKills: Array<() => void> = [];
let handlersInstalled = false;
let cleaning: Promise<void> | undefined;

/** Registers an async cleanup (run LIFO by runCleanups, on SIGINT/SIGTERM and at the end). */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

/** Runs every registered cleanup once, newest first, each bounded to 15 s. */
export function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.resolve()
          .then(fn)
          .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`)),
        new Promise((r) => (timer = setTimeout(r, 15_000))),
      ]);
      clearTimeout(timer);
    }
  })();
  return cleaning;
}

/** SIGINT/SIGTERM stop the run, clean up and exit 130; 'exit' SIGKILLs any child left. */
export function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping and cleaning up...\n`);
    const hard = setTimeout(() => process.exit(130), 20_000);
    hard.unref();
    void runCleanups().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const kill of syncKills) {
      try {
        kill();
      } catch {
        // best effort
      }
    }
  });
}

/** Runs `main`, prints its error if any, always cleans up, and sets the exit code. */
export async function runScript(main: () => Promise<number | void>): Promise<void> {
  installSignalHandlers();
  let code = 0;
  try {
    code = (await main()) ?? 0;
  } catch (error) {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    code = 1;
  } finally {
    await runCleanups();
  }
  process.exitCode = code;
}

// ------------------------------------------------------------------ the stack

export interface StackOptions {
  /** Extra service environment (REDIS_COMMAND_TIMEOUT_MS etc.). */
  env?: Record<string, string>;
}

/**
 * redis-server (private, free port) <- fault proxy (child process) <- the service
 * (`node dist/main.js`, as `npm start`), with ADMIN_TOKEN set and the generated test models.
 */
export class Stack {
  private constructor(
    readonly redis: RedisProcess,
    readonly proxy: RemoteProxy,
    readonly service: ServiceProcess,
    readonly env: Record<string, string>,
  ) {}

  static async start(options: StackOptions = {}): Promise<Stack> {
    ensureBuilt({ say: (line) => process.stderr.write(`${line}\n`) });
    installSignalHandlers();
    const redis = await RedisProcess.start();
    onCleanup(() => redis.stop());
    const proxy = await RemoteProxy.start(redis.port);
    onCleanup(() => proxy.close());
    syncKills.push(() => proxy.killSync());
    const models = await makeModels();
    onCleanup(() => rmSync(models.dir, { recursive: true, force: true }));
    const env = {
      REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`,
      EMBEDDING_MODEL: models.text,
      CODE_EMBEDDING_MODEL: models.code,
      MODELS_DIR: models.dir,
      ADMIN_TOKEN,
      // For investigations, e.g. BENCH_SERVICE_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/p'.
      ...(process.env.BENCH_SERVICE_NODE_OPTIONS
        ? { NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS }
        : {}),
      ...options.env,
    };
    const service = await ServiceProcess.start(env);
    onCleanup(() => service.stop('SIGKILL'));
    syncKills.push(() => {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    });
    const stack = new Stack(redis, proxy, service, env);
    await stack.waitUntil(
      async () => (await stack.put('bench:warmup', { warm: true })).body.stored?.l2 === true,
      15_000,
      'Redis reachable through the proxy',
    );
    return stack;
  }

  get baseUrl(): string {
    return this.service.baseUrl;
  }

  get pid(): number {
    return this.service.child.pid!;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async put(key: string, value: unknown): Promise<{ status: number; body: any }> {
    return this.service.json(`/v1/cache/${key}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
    });
  }

  /** POST /admin/circuit-breakers/:name/:action; throws unless 200. */
  async admin(action: 'reset' | 'open' | 'disable', name = REDIS_BREAKER): Promise<void> {
    const res = await this.service.json(`/admin/circuit-breakers/${name}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`admin ${action} ${name}: HTTP ${res.status}`);
  }

  /** The breaker's state and mode as /health reports them. */
  async breaker(name = REDIS_BREAKER): Promise<{ state: string; mode?: string }> {
    const health = await this.service.json('/health');
    const snapshot = health.body?.circuit_breakers?.[name] as
      { state: string; mode?: string } | undefined;
    if (snapshot === undefined) throw new Error(`/health has no breaker ${name}`);
    return snapshot;
  }

  /** Polls /health until the breaker is in `state`; resolves with the wait in ms. */
  async waitForState(state: string, timeoutMs: number, name = REDIS_BREAKER): Promise<number> {
    const started = performance.now();
    await this.waitUntil(
      async () => (await this.breaker(name)).state === state,
      timeoutMs,
      `${name} ${state}`,
    );
    return performance.now() - started;
  }

  async waitUntil(
    condition: () => Promise<boolean>,
    timeoutMs: number,
    what: string,
    intervalMs = 50,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let ok = false;
      try {
        ok = await condition();
      } catch {
        ok = false;
      }
      if (ok) return;
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(intervalMs);
    }
  }

  /** The service's Prometheus samples. */
  async metrics(): Promise<Sample[]> {
    const res = await fetch(this.service.metricsUrl);
    return parsePrometheus(await res.text());
  }

  /** Resident set size of the service process, KiB (from /proc), or undefined. */
  rssKiB(): number | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stops the service with SIGTERM (its exit code), then the proxy and Redis. */
  async stop(): Promise<number | null> {
    const code = await this.service.stop('SIGTERM');
    await this.proxy.close();
    await this.redis.stop();
    return code;
  }
}

// ------------------------------------------------------------------ Prometheus text

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    const m = line.exec(raw);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(label)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumMetric(
  samples: Sample[],
  name: string,
  match: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

// ------------------------------------------------------------------ HTTP, latency

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface TimedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** One request over a keep-alive connection, timed from send to the end of the body. */
export function timedRequest(
  url: string,
  method = 'GET',
  body?: string,
  timeoutMs = 30_000,
): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function closeAgent(): void {
  agent.destroy();
}

/** A bounded, growable list of latencies in ms. */
export class Latencies {
  private data = new Float64Array(1024);
  private n = 0;
  dropped = 0;

  constructor(private readonly cap = 20_000_000) {}

  push(ms: number): void {
    if (this.n === this.data.length) {
      if (this.n >= this.cap) {
        this.dropped++;
        return;
      }
      const bigger = new Float64Array(Math.min(this.cap, this.data.length * 2));
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  /** Nearest-rank percentiles (p in 0..100) and the mean and max. */
  summary(): LatencySummary {
    const sorted = this.data.slice(0, this.n).sort();
    const at = (p: number): number =>
      sorted.length === 0
        ? NaN
        : sorted[
            Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
          ]!;
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
      mean: sorted.length === 0 ? NaN : sum / sorted.length,
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

// ------------------------------------------------------------------ output

/** Milliseconds with about three significant digits. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 1) return v.toFixed(3);
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

export function ratio(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v >= 10 ? `${v.toFixed(0)}x` : `${v.toFixed(2)}x`;
}

export function table(headers: string[], rows: string[][], align?: Array<'l' | 'r'>): string {
  const al = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (text: string, i: number): string =>
    al[i] === 'r' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (al[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** One line naming the machine, for the top of every report. */
export function machineLine(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/** Seeded PRNG (the library's mulberry32) so runs pick the same keys. */
export const prng = seededRandom;

/**
 * The change of a Prometheus histogram between two scrapes: its count, and quantiles as the
 * upper bound of the bucket that holds them.
 */
export function histogramDelta(
  before: Sample[],
  after: Sample[],
  bucketName: string,
  match: Record<string, string>,
): { count: number; quantile(q: number): number } {
  const buckets = (samples: Sample[]): Map<number, number> => {
    const out = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== bucketName) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      out.set(le, (out.get(le) ?? 0) + s.value);
    }
    return out;
  };
  const b0 = buckets(before);
  const cumulative = [...buckets(after)]
    .map(([le, n]) => [le, n - (b0.get(le) ?? 0)] as const)
    .sort((a, b) => a[0] - b[0]);
  const count = cumulative[cumulative.length - 1]?.[1] ?? 0;
  return {
    count,
    quantile(q: number): number {
      if (count === 0) return NaN;
      const rank = q * count;
      for (const [le, n] of cumulative) if (n >= rank) return le;
      return Infinity;
    },
  };
}

export interface OpenLoopOptions {
  /** Request i's URL. */
  url: (i: number) => string;
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  /** Connections (keep-alive sockets); requests beyond them wait for one. */
  connections: number;
  onResponse: (status: number, latencyMs: number, i: number) => void;
  onError?: (error: unknown, i: number) => void;
  timeoutMs?: number;
}

/**
 * An open-loop GET generator: request i is due at start + i / rate whether or not earlier ones
 * have answered, and its latency counts from that due time (so a stall is charged to every
 * request it delayed: no coordinated omission). autocannon's rate limiting cannot do this: it
 * lets each connection send its per-second quota back to back at the start of every second.
 * Bounded: exactly rate x seconds requests, then it waits (at most `timeoutMs`) for the last.
 */
export async function openLoop(options: OpenLoopOptions): Promise<{
  sent: number;
  errors: number;
  seconds: number;
}> {
  const runAgent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const fire = (i: number, due: number): void => {
    const p = new Promise<void>((resolve) => {
      const req = request(options.url(i), { agent: runAgent, timeout: timeoutMs }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          options.onResponse(res.statusCode ?? 0, performance.now() - due, i);
          resolve();
        });
        res.on('error', (error) => {
          errors++;
          options.onError?.(error, i);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error) => {
        errors++;
        options.onError?.(error, i);
        resolve();
      });
      req.end();
    });
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  };
  while (sent < total) {
    const now = performance.now();
    const dueCount = Math.min(total, Math.floor(((now - start) / 1000) * options.rate) + 1);
    for (; sent < dueCount; sent++) fire(sent, start + (sent / options.rate) * 1000);
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.race([Promise.all(inFlight), sleep(timeoutMs + 1_000)]);
  runAgent.destroy();
  return { sent, errors, seconds: (performance.now() - start) / 1000 };
}
