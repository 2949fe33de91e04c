import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

export interface Listening {
  port: number;
  /** Stops accepting; requests already sent finish; stragglers are cut after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Serves `app` on host:port (port 0: a free one) and resolves once it listens. */
export async function listen(app: Hono, host: string, port: number): Promise<Listening> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (graceMs) => closeServer(server as HttpServer, graceMs),
  };
}

/**
 * Two traps. Connections waiting in the kernel's accept queue are reset when the listener
 * closes, and a busy loop accepts about one per iteration, so keep accepting until a few
 * loop iterations in a row bring no new connection (capped at a second). And
 * `http.Server#close` drops "idle" connections at once, which includes fresh ones whose
 * request has arrived but is not parsed yet; so stop listening with `net.Server#close`,
 * answer with `Connection: close` so busy connections end after their request, and close
 * connections still idle only after a second.
 */
async function closeServer(http: HttpServer, graceMs: number): Promise<void> {
  await drainAcceptQueue(http, 1_000);
  const closed = new Promise<void>((resolve) =>
    NetServer.prototype.close.call(http, () => resolve()),
  );
  const idle = setTimeout(() => http.closeIdleConnections(), Math.min(1_000, graceMs / 2));
  const force = setTimeout(() => http.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(idle);
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
