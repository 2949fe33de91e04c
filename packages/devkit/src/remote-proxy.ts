import { spawn, type ChildProcess } from 'node:child_process';
import type { FaultMode, FaultProxyStats } from './fault-proxy.js';
import { ROOT } from './root.js';

interface Reply {
  id?: number;
  type?: string;
  port?: number;
  ok?: boolean;
  stats?: FaultProxyStats;
  error?: string;
}

/**
 * The test FaultProxy (fault-proxy.ts), run in a child process so that the load
 * generator's event loop does not delay Redis traffic. Same modes; every call is one IPC round
 * trip that resolves with the proxy's counters.
 */
export class RemoteProxy {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.on('message', (reply: Reply) => {
      if (reply.id === undefined) return;
      const done = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      done?.(reply);
    });
  }

  static async start(targetPort: number, timeoutMs = 15_000): Promise<RemoteProxy> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'packages/devkit/src/proxy-child.ts', String(targetPort)],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`fault proxy did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fault proxy exited during start-up (code ${code})`));
      });
      child.on('message', (reply: Reply) => {
        if (reply.type === 'ready' && reply.port !== undefined) {
          clearTimeout(timer);
          resolve(reply.port);
        }
      });
    });
    return new RemoteProxy(child, port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  setMode(mode: FaultMode): Promise<FaultProxyStats> {
    return this.call({ cmd: 'setMode', mode });
  }

  stats(): Promise<FaultProxyStats> {
    return this.call({ cmd: 'stats' });
  }

  resetCounters(): Promise<FaultProxyStats> {
    return this.call({ cmd: 'resetCounters' });
  }

  /** Closes the proxy and waits for its process to exit (SIGKILL after 3 s). Idempotent. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort for process 'exit' hooks. */
  killSync(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private call(
    message: { cmd: string; mode?: FaultMode },
    timeoutMs = 5_000,
  ): Promise<FaultProxyStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`fault proxy: no answer to ${message.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.ok && reply.stats !== undefined) resolve(reply.stats);
        else reject(new Error(`fault proxy: ${message.cmd} failed: ${reply.error ?? 'unknown'}`));
      });
      if (!this.child.connected) {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(new Error('fault proxy: process is gone'));
        return;
      }
      this.child.send({ id, ...message });
    });
  }
}
