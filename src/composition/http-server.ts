import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Server as HttpServer, ServerResponse } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

export interface Listening {
  port: number;
  /**
   * Stops accepting; requests already sent finish; connections serving no request close
   * (at once, or within a second for fresh ones); stragglers are cut after `graceMs`.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Slow clients, outside shutdown too: the request head must arrive within 10 s and the whole
 * request (body included) within 30 s, checked every 2 s. Node's defaults (60 s / 300 s,
 * checked every 30 s) let a client that trickles its headers hold a connection for minutes.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
const CONNECTIONS_CHECKING_INTERVAL_MS = 2_000;

/** Serves `app` on host:port (port 0: a free one) and resolves once it listens. */
export async function listen(app: Hono, host: string, port: number): Promise<Listening> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port,
        hostname: host,
        serverOptions: {
          headersTimeout: HEADERS_TIMEOUT_MS,
          requestTimeout: REQUEST_TIMEOUT_MS,
          connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
        },
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  // Every open connection (one entry and one listener per connection, nothing per request).
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (graceMs) => closeServer(server as HttpServer, connections, graceMs),
  };
}

/**
 * True while the connection is serving a request: its request head has been parsed and its
 * response has not ended (the test Node's own `closeIdleConnections` makes).
 */
function serving(socket: Socket): boolean {
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return response != null && !response.writableEnded;
}

/**
 * Shutdown, in order:
 *
 * 1. Keep accepting until the kernel's accept queue is empty: connections waiting there are
 *    reset when the listener closes, and a busy loop accepts about one per iteration, so keep
 *    going until a few loop iterations in a row bring no new connection (capped at a second).
 *    Those iterations also read what has already arrived, so every request sent before the
 *    signal has been parsed by now.
 * 2. Stop listening (`net.Server#close`, not `http.Server#close`, which would also drop fresh
 *    connections whose request is about to arrive).
 * 3. At once (and again every 100 ms), close every connection that has received bytes but
 *    is serving no request: idle keep-alive connections, and clients still sending (or
 *    trickling) a request head. None has a request in flight, so nothing is lost, and a
 *    trickler can no longer hold the process past its hard stop.
 * 4. Connections that have sent nothing yet get up to a second for their request (a client
 *    that connected just before the signal); after that, those are closed too.
 * 5. In-flight requests finish within `graceMs`, their answers carrying `Connection: close`
 *    (the app's shutdown flag); whatever is left then is cut.
 */
async function closeServer(
  http: HttpServer,
  connections: Set<Socket>,
  graceMs: number,
): Promise<void> {
  await drainAcceptQueue(http, 1_000);
  const closed = new Promise<void>((resolve) =>
    NetServer.prototype.close.call(http, () => resolve()),
  );
  const startedAt = Date.now();
  const silentGraceMs = Math.min(1_000, graceMs / 2);
  // Swept now and then every 100 ms: a connection whose last answer went out before the
  // shutdown flag was set (so without `Connection: close`) is idle keep-alive once it ends.
  const sweep = (): void => {
    const alsoSilent = Date.now() - startedAt >= silentGraceMs;
    for (const socket of connections) {
      if (!serving(socket) && (alsoSilent || socket.bytesRead > 0)) socket.destroy();
    }
  };
  sweep();
  const sweeper = setInterval(sweep, 100);
  const force = setTimeout(() => http.closeAllConnections(), graceMs);
  await closed;
  clearInterval(sweeper);
  clearTimeout(force);
}

async function drainAcceptQueue(server: HttpServer, capMs: number): Promise<void> {
  let accepted = 0;
  const onConnection = (): void => {
    accepted++;
  };
  server.on('connection', onConnection);
  const deadline = Date.now() + capMs;
  for (let quiet = 0; quiet < 3 && Date.now() < deadline;) {
    const before = accepted;
    await new Promise((r) => setImmediate(r)); // one loop iteration, poll phase included
    quiet = accepted === before ? quiet + 1 : 0;
  }
  server.off('connection', onConnection);
}
