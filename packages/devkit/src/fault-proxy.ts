import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A TCP fault proxy for tests: listens on 127.0.0.1 (a free port) and forwards to a target.
 *
 * Modes (setMode applies to new AND existing connections):
 * - `pass`      forward both ways.
 * - `refuse`    the listening socket is closed, so a connect gets ECONNREFUSED from the kernel
 *               (exactly like a dead server); existing connections are reset.
 * - `blackhole` accept connections, read and count the client's bytes, never forward or answer,
 *               never reset. Open connections stop forwarding too (both directions).
 * - `delay`     forward both ways, every chunk held for `delayMs` (order preserved).
 * - `reset`     new connections are reset (RST) at once; existing ones are reset.
 *
 * Leaving `blackhole`: a connection on which bytes were swallowed has a corrupted stream (real
 * TCP never loses bytes silently: it either delivers them or the connection dies), so such
 * connections are reset; connections that swallowed nothing continue. Chunks still queued by
 * `delay` are flushed in order when switching to `pass`, dropped when switching to `blackhole`.
 *
 * Counters: connections accepted and bytes received from clients (in every mode, including
 * swallowed bytes), both in total and since resetCounters().
 */

export type FaultMode = 'pass' | 'refuse' | 'blackhole' | 'delay' | 'reset';

export interface FaultModeOptions {
  /** Delay per chunk in `delay` mode, ms. Default 100. */
  delayMs?: number;
}

export interface FaultProxyOptions extends FaultModeOptions {
  targetPort: number;
  targetHost?: string;
  mode?: FaultMode;
}

export interface FaultProxyStats {
  mode: FaultMode;
  activeConnections: number;
  connectionsAccepted: number;
  connectionsAcceptedTotal: number;
  bytesFromClients: number;
  bytesFromClientsTotal: number;
  bytesToClients: number;
  bytesToClientsTotal: number;
}

/** Writes chunks to a socket after a delay, in order. */
class DelayQueue {
  private readonly queue: { due: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly write: (chunk: Buffer) => void) {}

  get length(): number {
    return this.queue.length;
  }

  push(chunk: Buffer, delayMs: number): void {
    const last = this.queue[this.queue.length - 1];
    const due = Math.max(performance.now() + delayMs, last?.due ?? 0);
    this.queue.push({ due, chunk });
    if (this.timer === undefined) this.schedule();
  }

  private schedule(): void {
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = performance.now();
        while (this.queue.length > 0 && (this.queue[0]?.due ?? Infinity) <= now + 1) {
          const item = this.queue.shift();
          if (item) this.write(item.chunk);
        }
        this.schedule();
      },
      Math.max(0, head.due - performance.now()),
    );
  }

  /** Writes everything now; returns nothing. */
  flush(): void {
    this.cancelTimer();
    for (const item of this.queue.splice(0)) this.write(item.chunk);
  }

  /** Discards everything; returns true if anything was discarded. */
  drop(): boolean {
    this.cancelTimer();
    return this.queue.splice(0).length > 0;
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

class Link {
  upstream: Socket | undefined;
  /** Bytes were dropped in either direction: the byte streams no longer line up. */
  swallowed = false;
  closed = false;
  readonly toUpstream: DelayQueue;
  readonly toClient: DelayQueue;

  constructor(
    private readonly proxy: FaultProxy,
    readonly client: Socket,
  ) {
    this.toUpstream = new DelayQueue((chunk) => this.upstream?.write(chunk));
    this.toClient = new DelayQueue((chunk) => this.client.write(chunk));
    client.setNoDelay(true);
    client.on('error', () => this.destroy(true));
    client.on('close', () => this.destroy(false));
    client.on('end', () => this.destroy(false));
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
  }

  connectUpstream(host: string, port: number): void {
    if (this.upstream !== undefined || this.closed) return;
    const upstream = connect({ host, port });
    this.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    // The target died or refused: make the client see a hard failure, as it would directly.
    upstream.on('error', () => this.destroy(true));
    upstream.on('end', () => this.destroy(false));
    upstream.on('close', () => this.destroy(false));
  }

  private fromClient(chunk: Buffer): void {
    this.proxy.countFromClient(chunk.length);
    const { mode, delayMs } = this.proxy;
    if (mode === 'pass' && this.toUpstream.length === 0) this.upstream?.write(chunk);
    else if (mode === 'pass' || mode === 'delay') this.toUpstream.push(chunk, delayMs);
    else this.swallowed = true; // blackhole (reset/refuse destroy links when set)
  }

  private fromUpstream(chunk: Buffer): void {
    const { mode, delayMs } = this.proxy;
    if (mode === 'pass' && this.toClient.length === 0) {
      this.proxy.countToClient(chunk.length);
      this.client.write(chunk);
    } else if (mode === 'pass' || mode === 'delay') {
      this.proxy.countToClient(chunk.length);
      this.toClient.push(chunk, delayMs);
    } else this.swallowed = true;
  }

  /** Applies a mode change to this open connection. */
  onModeChange(mode: FaultMode, host: string, port: number): void {
    switch (mode) {
      case 'pass':
      case 'delay':
        if (this.swallowed) {
          this.destroy(true);
          return;
        }
        if (mode === 'pass') {
          this.toUpstream.flush();
          this.toClient.flush();
        }
        this.connectUpstream(host, port);
        return;
      case 'blackhole':
        if (this.toUpstream.drop()) this.swallowed = true;
        if (this.toClient.drop()) this.swallowed = true;
        return;
      case 'reset':
      case 'refuse':
        this.destroy(true);
        return;
    }
  }

  destroy(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.toUpstream.drop();
    this.toClient.drop();
    for (const socket of [this.client, this.upstream]) {
      if (socket === undefined || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
    this.proxy.forget(this);
  }
}

export class FaultProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private currentMode: FaultMode;
  private currentDelayMs: number;
  private isClosed = false;
  private accepted = 0;
  private acceptedTotal = 0;
  private bytesIn = 0;
  private bytesInTotal = 0;
  private bytesOut = 0;
  private bytesOutTotal = 0;

  private listenPort = 0;

  private constructor(
    readonly targetHost: string,
    readonly targetPort: number,
    mode: FaultMode,
    delayMs: number,
  ) {
    this.currentMode = mode;
    this.currentDelayMs = delayMs;
  }

  /** Starts a proxy on 127.0.0.1, on a free port (chosen by the kernel). */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(
      options.targetHost ?? '127.0.0.1',
      options.targetPort,
      options.mode ?? 'pass',
      options.delayMs ?? 100,
    );
    proxy.listenPort = await proxy.listen(0);
    if (proxy.currentMode === 'refuse') await proxy.stopListening();
    return proxy;
  }

  /** The port the proxy listens on (127.0.0.1); stable across `refuse`. */
  get port(): number {
    return this.listenPort;
  }

  get mode(): FaultMode {
    return this.currentMode;
  }

  get delayMs(): number {
    return this.currentDelayMs;
  }

  /** 'host:port' of the proxy, e.g. for a redis:// URL. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async setMode(mode: FaultMode, options: FaultModeOptions = {}): Promise<void> {
    if (this.isClosed) throw new Error('FaultProxy is closed');
    if (options.delayMs !== undefined) this.currentDelayMs = options.delayMs;
    const previous = this.currentMode;
    this.currentMode = mode;
    for (const link of [...this.links]) link.onModeChange(mode, this.targetHost, this.targetPort);
    if (mode === 'refuse' && previous !== 'refuse') await this.stopListening();
    if (mode !== 'refuse' && this.server === undefined) await this.listen(this.port);
  }

  stats(): FaultProxyStats {
    return {
      mode: this.currentMode,
      activeConnections: this.links.size,
      connectionsAccepted: this.accepted,
      connectionsAcceptedTotal: this.acceptedTotal,
      bytesFromClients: this.bytesIn,
      bytesFromClientsTotal: this.bytesInTotal,
      bytesToClients: this.bytesOut,
      bytesToClientsTotal: this.bytesOutTotal,
    };
  }

  /** Zeroes the "since reset" counters (the totals keep counting). */
  resetCounters(): void {
    this.accepted = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
  }

  /** Destroys every connection and stops listening. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const link of [...this.links]) link.destroy(false);
    await this.stopListening();
  }

  /** @internal */
  countFromClient(n: number): void {
    this.bytesIn += n;
    this.bytesInTotal += n;
  }

  /** @internal */
  countToClient(n: number): void {
    this.bytesOut += n;
    this.bytesOutTotal += n;
  }

  /** @internal */
  forget(link: Link): void {
    this.links.delete(link);
  }

  private onConnection(socket: Socket): void {
    this.accepted++;
    this.acceptedTotal++;
    if (this.isClosed || this.currentMode === 'reset' || this.currentMode === 'refuse') {
      socket.on('error', () => {});
      socket.resetAndDestroy();
      return;
    }
    const link = new Link(this, socket);
    this.links.add(link);
    if (this.currentMode !== 'blackhole') link.connectUpstream(this.targetHost, this.targetPort);
  }

  private listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.onConnection(socket));
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => {});
        this.server = server;
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
