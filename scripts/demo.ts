// `npm run demo`: the breakers at work, on this machine, within a minute.
//
//   npm run demo                      runs until Ctrl-C
//   npm run demo -- --duration 45     stops by itself after 45 s of traffic
//   npm run demo -- --port 8001       a fixed port for the service (default: a free one)
//   npm run demo -- --build           recompile dist/ first (done anyway when it is missing)
//   npm run demo -- --verbose         also show the service's own log lines
//
// It starts, all on 127.0.0.1 and all private to this run:
//   - a redis-server (when one is installed) behind a TCP fault proxy,
//   - the service (`node dist/main.js`, as `npm start` runs it) with short recovery timeouts,
//     the project's test embedding models (text and code) in a temp directory,
//   - a traffic generator for the cache and embedding routes (about 20 + 3 requests/s),
// then on a schedule blackholes Redis, restores it, moves the code model away, restores it,
// so that both breakers go closed -> open -> half-open -> (open ->) closed, and the dashboard
// shows every state, transition and panel. Ctrl-C (SIGINT) or SIGTERM stops everything it
// started; nothing is left running.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { writeTestModel } from '../src/dependencies/embeddings/test-model.js';
import { reasonLabel } from '../src/http/dashboard/reasons.js';
import {
  ensureBuilt,
  FaultProxy,
  freePort,
  onStopSignals,
  RedisProcess,
  ROOT,
} from '@breakerbox/devkit';
const HOST = '127.0.0.1';

const USAGE = 'usage: npm run demo -- [--duration SECONDS] [--port N] [--build] [--verbose]';

// The schedule, in seconds after traffic starts. The service runs with REDIS recovery 5 s and
// EMBEDDING recovery 8 s, so each outage spans one failed probe and ends before the next one.
const SCHEDULE = {
  redisDown: 6,
  redisUp: 15,
  modelGone: 21,
  modelBack: 33,
  /** Later rounds (the code model is cached by then): force the embedding breaker open. */
  period: 60,
} as const;

interface Options {
  duration: number | undefined;
  port: number | undefined;
  build: boolean;
  verbose: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      port: { type: 'string' },
      build: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(Number.isFinite(duration) && duration > 0)) {
    throw new Error(`--duration expects a number of seconds > 0, got ${values.duration}`);
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65_536)) {
    throw new Error(`--port expects a TCP port, got ${values.port}`);
  }
  return { duration, port, build: values.build, verbose: values.verbose };
}

// ---------------------------------------------------------------------------- output

let t0: number | undefined;
function say(message: string): void {
  const stamp =
    t0 === undefined ? '' : `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] `;
  process.stdout.write(`${stamp}${message}\n`);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

// ---------------------------------------------------------------------------- pieces

function hasRedisServer(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

interface Traffic {
  cache: { ok: number; withoutRedis: number; errors: number };
  embeddings: { ok: number; rejected: number; failed: number; errors: number };
}

/** Bounded, loopback-only load: two cache workers (~10 req/s each), one embedding worker. */
function startTraffic(
  base: string,
  signal: AbortSignal,
  embeddingKind: () => 'text' | 'code' | 'both',
): { counts: Traffic; done: Promise<void> } {
  const counts: Traffic = {
    cache: { ok: 0, withoutRedis: 0, errors: 0 },
    embeddings: { ok: 0, rejected: 0, failed: 0, errors: 0 },
  };
  const request = async (path: string, init: RequestInit = {}): Promise<Response | undefined> => {
    try {
      const timeout = AbortSignal.timeout(3_000);
      return await fetch(`${base}${path}`, { ...init, signal: AbortSignal.any([signal, timeout]) });
    } catch {
      return undefined;
    }
  };

  const cacheWorker = async (id: number): Promise<void> => {
    for (let i = 0; !signal.aborted; i++) {
      const started = performance.now();
      const key = `demo:${(i * 7 + id * 13) % 40}`;
      const res =
        i % 3 === 0
          ? await request(`/v1/cache/${key}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ value: { n: i, at: Date.now() }, ttl_seconds: 60 }),
            })
          : await request(`/v1/cache/${key}`);
      if (res === undefined || res.status >= 500) counts.cache.errors++;
      else {
        counts.cache.ok++;
        if (res.headers.get('x-circuit-open') !== null) counts.cache.withoutRedis++;
      }
      await res?.arrayBuffer().catch(() => undefined);
      await sleep(Math.max(0, 100 - (performance.now() - started)), signal);
    }
  };

  const embeddingWorker = async (): Promise<void> => {
    for (let i = 0; !signal.aborted; i++) {
      const started = performance.now();
      const mode = embeddingKind();
      const kind = mode === 'both' ? (i % 2 === 0 ? 'text' : 'code') : mode;
      const input =
        kind === 'code'
          ? `function f${i % 9}(x) { return x * ${i % 5}; }`
          : `a breaker at work, request ${i % 11}`;
      const res = await request('/v1/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input, kind }),
      });
      if (res === undefined) counts.embeddings.errors++;
      else if (res.status === 200) counts.embeddings.ok++;
      else {
        const body = (await res.json().catch(() => ({}))) as { error?: string };
        if (body.error === 'circuit_open') counts.embeddings.rejected++;
        else if (res.status === 503) counts.embeddings.failed++;
        else counts.embeddings.errors++;
      }
      await res?.arrayBuffer().catch(() => undefined);
      await sleep(Math.max(0, 330 - (performance.now() - started)), signal);
    }
  };

  const done = Promise.all([cacheWorker(0), cacheWorker(1), embeddingWorker()]).then(
    () => undefined,
  );
  return { counts, done };
}

// ---------------------------------------------------------------------------- main

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
    ensureBuilt({ force: options.build, say });
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(2);
  }

  const work = mkdtempSync(join(tmpdir(), 'breakerbox-demo-'));
  const modelsDir = join(work, 'models');
  const textModel = join(modelsDir, 'breakerbox-mini-text');
  const codeModel = join(modelsDir, 'breakerbox-mini-code');
  const codeModelAway = join(work, 'breakerbox-mini-code.moved-away');

  let redis: RedisProcess | undefined;
  let proxy: FaultProxy | undefined;
  let service: ChildProcess | undefined;
  let serviceExit: Promise<void> = Promise.resolve();
  const traffic = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let stopping: Promise<void> | undefined;
  // stop() waits for the set-up step in progress (each is bounded), so that nothing started
  // during a Ctrl-C escapes the clean-up.
  let setupFinished!: () => void;
  const setupDone = new Promise<void>((resolve) => (setupFinished = resolve));

  const killServiceNow = (): void => {
    if (service !== undefined && service.exitCode === null && service.signalCode === null) {
      service.kill('SIGKILL');
    }
  };
  process.once('exit', killServiceNow);

  const stop = (why: string): Promise<void> =>
    (stopping ??= (async () => {
      say(`Stopping (${why})…`);
      traffic.abort();
      await setupDone;
      for (const timer of timers) clearTimeout(timer);
      if (service !== undefined && service.exitCode === null && service.signalCode === null) {
        service.kill('SIGTERM');
        const force = setTimeout(killServiceNow, 12_000);
        await serviceExit;
        clearTimeout(force);
      }
      await proxy?.close();
      await redis?.stop();
      rmSync(work, { recursive: true, force: true });
      say(
        `Stopped: the service, ${redis === undefined ? '' : 'redis-server '}and the fault proxy are gone.`,
      );
    })());

  onStopSignals(stop, (signal) => {
    say(`${signal} again: killing the service now.`);
    killServiceNow();
  });

  try {
    say('breakerbox demo: setting up (everything on 127.0.0.1, private to this run)…');
    await writeTestModel(textModel, { kind: 'text' });
    await writeTestModel(codeModel, { kind: 'code' });
    say(`  models:       ${modelsDir} (the project's test models, text and code)`);

    let redisNote: string;
    if (hasRedisServer()) {
      redis = await RedisProcess.start();
      redisNote = `redis-server pid ${redis.pid} on port ${redis.port}`;
      proxy = await FaultProxy.start({ targetPort: redis.port });
    } else {
      // Nothing listens on this port: the proxy's upstream connections are refused.
      proxy = await FaultProxy.start({ targetPort: await freePort() });
      redisNote = 'NOT RUNNING: redis-server is not installed, so Redis shows as down';
      say('  redis-server was not found on PATH: Redis will show as down (redis_cache opens and');
      say(
        '  keeps probing). Install redis-server (e.g. apt-get install redis-server) to see it recover.',
      );
    }
    say(`  redis:        ${redisNote}`);
    say(`  fault proxy:  127.0.0.1:${proxy.port} -> Redis (pass / blackhole on schedule)`);

    if (stopping !== undefined) return setupFinished();
    const port = options.port ?? (await freePort());
    const metricsPort = await freePort();
    const adminToken = randomBytes(16).toString('hex');
    const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        HOST,
        PORT: String(port),
        REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`,
        REDIS_COMMAND_TIMEOUT_MS: '200',
        REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
        REDIS_CIRCUIT_RECOVERY_TIMEOUT: '5',
        REDIS_CIRCUIT_HALF_OPEN_CALLS: '1',
        EMBEDDING_CIRCUIT_FAILURE_THRESHOLD: '3',
        EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT: '8',
        EMBEDDING_CIRCUIT_HALF_OPEN_CALLS: '1',
        EMBEDDING_MODEL: textModel,
        CODE_EMBEDDING_MODEL: codeModel,
        // The model outage moves the code model away; it must not be loaded before that.
        EMBEDDING_WARM_UP: 'false',
        MODELS_DIR: modelsDir,
        EMBEDDING_ALLOW_DOWNLOAD: 'false',
        EMBEDDING_LOAD_TIMEOUT: '20',
        CRITICAL_CIRCUITS: 'embedding_service',
        ADMIN_TOKEN: adminToken,
        CIRCUIT_LOG_SUMMARY_INTERVAL: '10',
        LOG_LEVEL: 'info',
        OTEL_SERVICE_NAME: 'breakerbox-demo',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_EXPORTER_PROMETHEUS_HOST: HOST,
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service = child;
    serviceExit = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (stopping === undefined) {
        say(`The service exited unexpectedly (${signal ?? `code ${code}`}).`);
        void stop('service exited').then(() => process.exit(1));
      }
    });
    createInterface({ input: child.stdout! }).on('line', (line) =>
      onServiceLine(line, options.verbose),
    );
    createInterface({ input: child.stderr! }).on('line', (line) =>
      say(`  service stderr: ${line}`),
    );

    const base = `http://${HOST}:${port}`;
    await waitForService(base, 20_000, () => stopping !== undefined || child.exitCode !== null);
    setupFinished();
    if (stopping !== undefined) return;
    say(`  service:      pid ${child.pid}, node dist/main.js`);
    say(
      `processes: service pid ${child.pid}${redis?.pid === undefined ? '' : `, redis-server pid ${redis.pid}`}`,
    );
    say('');
    say(`  Dashboard:    ${base}/dashboard`);
    say(`  Health:       ${base}/health   (readiness: ${base}/health/ready)`);
    say(`  Breakers:     ${base}/v1/circuit-breakers`);
    say(`  Metrics:      http://${HOST}:${metricsPort}/metrics`);
    say(`  Admin token:  ${adminToken}   (POST ${base}/admin/circuit-breakers/NAME/open|reset)`);
    say('');
    say(
      options.duration === undefined
        ? 'Traffic starts now; press Ctrl-C to stop.'
        : `Traffic starts now; stopping by itself after ${options.duration} s (Ctrl-C stops sooner).`,
    );

    // ------------------------------------------------------------------ scenario
    t0 = performance.now();
    let kind: 'text' | 'code' | 'both' = 'text';
    const load = startTraffic(base, traffic.signal, () => kind);
    const at = (seconds: number, action: () => void | Promise<void>): void => {
      const delay = seconds * 1000 - (performance.now() - t0!);
      timers.push(
        setTimeout(
          () => {
            if (stopping === undefined)
              void Promise.resolve(action()).catch((e: unknown) =>
                say(`  (action failed: ${String(e)})`),
              );
          },
          Math.max(0, delay),
        ),
      );
    };
    const admin = async (name: string, action: 'open' | 'reset'): Promise<void> => {
      const res = await fetch(`${base}/admin/circuit-breakers/${name}/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}` },
        signal: AbortSignal.timeout(3_000),
      });
      await res.arrayBuffer();
    };

    const round = (n: number): void => {
      const o = n * SCHEDULE.period;
      // Without a redis-server, Redis is down all along: nothing to break or restore.
      if (redis !== undefined) {
        at(o + SCHEDULE.redisDown, async () => {
          await proxy!.setMode('blackhole');
          say(
            '>>> Redis outage: the fault proxy blackholes Redis; commands time out after 200 ms.',
          );
          say('    Expect redis_cache to open within a second; the cache keeps answering from L1.');
        });
        at(o + SCHEDULE.redisUp, async () => {
          await proxy!.setMode('pass');
          say('>>> Redis is back: the proxy forwards again; the next probe closes redis_cache.');
        });
      }
      if (n === 0) {
        at(o + SCHEDULE.modelGone, () => {
          renameSync(codeModel, codeModelAway);
          kind = 'code';
          say(
            '>>> Model outage: the code embedding model was moved away and code-search traffic starts.',
          );
          say(
            '    Loads fail, embedding_service (critical) opens: 503 + Retry-After, /health/ready 503, banner.',
          );
        });
        at(o + SCHEDULE.modelBack, () => {
          renameSync(codeModelAway, codeModel);
          say('>>> Code model restored: the next probe loads it and closes embedding_service.');
        });
        at(o + SCHEDULE.modelBack + 7, () => {
          kind = 'both';
        });
      } else {
        // Both models are loaded and cached now; missing files no longer matter, so force it.
        at(o + SCHEDULE.modelGone, async () => {
          await admin('embedding_service', 'open');
          say(
            '>>> embedding_service forced open through the admin API (the models are cached by now).',
          );
        });
        at(o + SCHEDULE.modelBack, async () => {
          await admin('embedding_service', 'reset');
          say('>>> embedding_service reset through the admin API.');
        });
      }
      at(o + SCHEDULE.period, () => round(n + 1));
    };
    round(0);

    // A status line every 5 s.
    const status = async (): Promise<void> => {
      let last = { cache: 0, embeddings: 0 };
      for (let i = 1; !traffic.signal.aborted; i++) {
        await sleep(t0! + i * 5_000 - performance.now(), traffic.signal);
        if (traffic.signal.aborted) break;
        const states = await fetch(`${base}/v1/circuit-breakers`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.json() as Promise<Record<string, { state: string }>>)
          .catch(() => undefined);
        const c = load.counts;
        const cacheTotal = c.cache.ok + c.cache.errors;
        const embTotal =
          c.embeddings.ok + c.embeddings.rejected + c.embeddings.failed + c.embeddings.errors;
        const summary =
          states === undefined
            ? 'service not answering'
            : Object.entries(states)
                .map(([n, s]) => `${n}=${s.state}`)
                .join('  ');
        say(
          `    status: ${summary} | cache ${((cacheTotal - last.cache) / 5).toFixed(1)} req/s (${c.cache.withoutRedis} answered without Redis so far)` +
            ` | embeddings ${((embTotal - last.embeddings) / 5).toFixed(1)} req/s (${c.embeddings.rejected} rejected fast, ${c.embeddings.failed} failed so far)`,
        );
        last = { cache: cacheTotal, embeddings: embTotal };
      }
    };
    void status();

    if (options.duration !== undefined) {
      const duration = options.duration;
      timers.push(
        setTimeout(
          () => void stop(`--duration ${duration} reached`).then(() => process.exit(0)),
          duration * 1000,
        ),
      );
    }
    await load.done;
  } catch (error) {
    setupFinished();
    say(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    await stop('error');
    process.exit(1);
  }
}

function onServiceLine(line: string, verbose: boolean): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    if (verbose || line.trim() !== '') say(`  service: ${line}`);
    return;
  }
  const name = String(entry['circuit_breaker.name'] ?? '');
  if (entry.event === 'circuit_breaker.state_change') {
    const reason = String(entry.reason);
    say(
      `${name.padEnd(18)} ${String(entry.from).padStart(9)} -> ${String(entry.to).padEnd(9)}  (${reasonLabel(reason)})`,
    );
  } else if (entry.event === 'circuit_breaker.summary') {
    say(`  log summary: ${String(entry.msg)}`);
  } else if (verbose || (typeof entry.level === 'number' && entry.level >= 50)) {
    say(`  service: ${String(entry.msg ?? line)}`);
  }
}

async function waitForService(
  base: string,
  timeoutMs: number,
  abandon: () => boolean,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (abandon()) return;
    try {
      const res = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`the service did not answer on ${base} within ${timeoutMs / 1000} s`);
}

await main();
