import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A private `redis-server` child process for tests: loopback only, no persistence, its own
 * temporary directory, on a free port. Never the machine's shared Redis.
 *
 *   const redis = await RedisProcess.start();
 *   await redis.kill('SIGKILL');   // crash it
 *   await redis.restart();         // same port, empty dataset
 *   await stopAllRedis();          // in afterAll: stops every instance still running
 */

export interface RedisStartOptions {
  /** Port to use; a free one by default. */
  port?: number;
  /** How long to wait for the first PONG. Default 10 s. */
  startTimeoutMs?: number;
  /** Extra `redis-server` arguments, e.g. ['--maxmemory', '10mb']. */
  extraArgs?: readonly string[];
}

const POLL_INTERVAL_MS = 20;
const LOG_TAIL_CHARS = 4_000;
const live = new Set<RedisProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test file forgets stopAllRedis(): never leave redis-server behind.
  process.once('exit', () => {
    for (const instance of live) instance.killSync();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let watchdogList: string | undefined;

/**
 * If this process is killed (a test timeout kills the worker: no 'exit' handlers run), a
 * detached shell notices within a second and SIGKILLs every redis-server it started. A pid is
 * only killed if its working directory is still the instance's private temp directory, so a
 * recycled pid is never hit.
 */
function registerWithWatchdog(pid: number, dir: string): void {
  if (watchdogList === undefined) {
    const listDir = mkdtempSync(join(tmpdir(), 'bb-redis-watch-'));
    watchdogList = join(listDir, 'pids');
    appendFileSync(watchdogList, '');
    const script = [
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
      'while read -r pid dir; do',
      '  if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir" ]; then kill -9 "$pid"; fi',
      '  rm -rf "$dir"',
      'done < "$2"',
      'rm -rf "$3"',
    ].join('\n');
    const watchdog = spawn(
      'sh',
      ['-c', script, 'bb-redis-watchdog', String(process.pid), watchdogList, listDir],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    watchdog.on('error', () => {});
    watchdog.unref();
  }
  appendFileSync(watchdogList, `${pid} ${dir}\n`);
}

/**
 * Sends PING over a raw socket; resolves true when the server answers (+PONG, or -NOAUTH from
 * a server with a password), false on anything else.
 */
export function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 250): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    let buffer = '';
    const socket = connect({ port, host });
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (buffer.includes('\r\n'))
        finish(buffer.startsWith('+PONG') || buffer.startsWith('-NOAUTH'));
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

export class RedisProcess {
  readonly host = '127.0.0.1';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private logTail = '';
  private readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly startTimeoutMs: number,
    private readonly extraArgs: readonly string[],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'bb-redis-'));
  }

  static async start(options: RedisStartOptions = {}): Promise<RedisProcess> {
    const attempts = options.port === undefined ? 3 : 1;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      const port = options.port ?? (await freePort());
      const instance = new RedisProcess(
        port,
        options.startTimeoutMs ?? 10_000,
        options.extraArgs ?? [],
      );
      live.add(instance);
      installExitHook();
      try {
        await instance.spawnAndWait();
        return instance;
      } catch (err) {
        lastError = err;
        await instance.stop();
      }
    }
    throw lastError;
  }

  get url(): string {
    return `redis://${this.host}:${this.port}/0`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** The last few kilobytes of the server's log, for diagnostics. */
  get log(): string {
    return this.logTail;
  }

  private async spawnAndWait(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const args = [
      '--port',
      String(this.port),
      '--bind',
      this.host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--protected-mode',
      'yes',
      '--enable-debug-command',
      'local',
      ...this.extraArgs,
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (child.pid !== undefined) registerWithWatchdog(child.pid, this.dir);
    let exitedFlag = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        exitedFlag = true;
        resolve();
      });
      child.once('error', (err) => {
        this.appendLog(`spawn error: ${err.message}\n`);
        exitedFlag = true;
        resolve();
      });
    });
    const onLog = (chunk: Buffer): void => this.appendLog(chunk.toString('utf8'));
    child.stdout?.on('data', onLog);
    child.stderr?.on('data', onLog);

    const deadline = Date.now() + this.startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitedFlag) break;
      if (await pingRedis(this.port, this.host)) return;
      await sleep(POLL_INTERVAL_MS);
    }
    throw new Error(
      `redis-server on port ${this.port} did not answer PING` +
        (exitedFlag ? ' (process exited)' : ` within ${this.startTimeoutMs} ms`) +
        `\n--- log ---\n${this.logTail}`,
    );
  }

  private appendLog(text: string): void {
    this.logTail = (this.logTail + text).slice(-LOG_TAIL_CHARS);
  }

  /** Sends the signal and waits until the process has exited. */
  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill(signal);
    await this.exited;
  }

  /**
   * SIGSTOP: the server keeps its data and its sockets but answers nothing (connects still
   * complete in the kernel), like a host behind a blackhole. `resume()` (SIGCONT) undoes it.
   */
  pause(): void {
    if (this.running) this.child!.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.child!.kill('SIGCONT');
  }

  /** Starts a fresh server (empty dataset) on the same port, stopping the old one first. */
  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    live.add(this);
    await this.spawnAndWait();
  }

  /** Stops the server (SIGKILL: nothing to persist) and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    this.child = undefined;
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous best-effort kill, for the process exit hook. */
  killSync(): void {
    if (this.running) this.child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops every RedisProcess started in this worker that is still alive. Use in afterAll. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((instance) => instance.stop()));
}
