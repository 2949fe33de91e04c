import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { ROOT } from './root.js';

const live = new Set<ServiceProcess>();

/**
 * A text and a code model written by the service's own generator (`npm run make-test-model`,
 * from the build) into a fresh temp dir.
 */
export function makeModels(): Promise<{ dir: string; text: string; code: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'breakerbox-models-'));
  const text = join(dir, 'breakerbox-mini-text');
  const code = join(dir, 'breakerbox-mini-code');
  execFileSync(process.execPath, [join(ROOT, 'dist/cli/make-test-model.js'), text, code], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return Promise.resolve({ dir, text, code });
}

/**
 * The real service as a child process, started as `npm start` starts it (`node dist/main.js`;
 * the global setup compiles dist/). Its stdout/stderr are kept for assertions.
 */
export class ServiceProcess {
  output = '';
  private exit: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly metricsPort: number,
  ) {
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    live.add(this);
    void this.exit.then(() => live.delete(this));
  }

  static async start(
    env: Record<string, string>,
    {
      waitReady = true,
      nodeArgs = [],
    }: {
      waitReady?: boolean;
      /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] (not NODE_OPTIONS-safe). */
      nodeArgs?: string[];
    } = {},
  ): Promise<ServiceProcess> {
    if (!existsSync(join(ROOT, 'dist/main.js')))
      throw new Error('dist/main.js missing: run npm run build');
    const port = await freePort();
    const metricsPort = await freePort();
    const child = spawn(process.execPath, ['--enable-source-maps', ...nodeArgs, 'dist/main.js'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        HOST: '127.0.0.1',
        PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        LOG_LEVEL: 'info',
        // Tests decide when models load (most run without any); a test of the start-up
        // warm-up sets it back to true.
        EMBEDDING_WARM_UP: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(child, port, metricsPort);
    if (waitReady) await service.waitUntilServing();
    return service;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.metricsPort}/metrics`;
  }

  async waitUntilServing(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`service exited early:\n${this.output}`);
      try {
        const res = await fetch(`${this.baseUrl}/health/live`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`service did not start within ${timeoutMs} ms:\n${this.output}`);
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, init);
  }

  async json(
    path: string,
    init?: RequestInit,
    // Test bodies are checked with structural matchers, so `any` keeps assertions readable.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Promise<{ status: number; headers: Headers; body: any }> {
    const res = await this.fetch(path, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body };
  }

  /** Sends a signal and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  exited(): Promise<number | null> {
    return this.exit;
  }

  /** Parsed JSON log lines the service wrote to stdout. */
  logLines(): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }
}

export async function stopAllServices(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop('SIGKILL')));
}
