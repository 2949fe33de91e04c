import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.js';
import { freePort } from './ports.js';
import { RedisProcess, pingRedis, stopAllRedis } from './redis-server.js';
import { sleep, waitFor } from './wait.js';

interface TestClient {
  socket: Socket;
  received: () => string;
  connected: boolean;
  closed: boolean;
  errorCode: string | undefined;
}

function openClient(port: number): TestClient {
  const chunks: Buffer[] = [];
  const socket = connect({ port, host: '127.0.0.1' });
  const client: TestClient = {
    socket,
    received: () => Buffer.concat(chunks).toString(),
    connected: false,
    closed: false,
    errorCode: undefined,
  };
  socket.on('connect', () => (client.connected = true));
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => (client.errorCode = err.code));
  socket.on('close', () => (client.closed = true));
  return client;
}

let echo: Server;
let echoPort: number;
const echoSockets = new Set<Socket>();
const proxies: FaultProxy[] = [];
const clients: TestClient[] = [];

async function startProxy(): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ targetPort: echoPort });
  proxies.push(proxy);
  return proxy;
}

function client(port: number): TestClient {
  const c = openClient(port);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  echoPort = await freePort();
  echo = createServer((socket) => {
    echoSockets.add(socket);
    socket.on('close', () => echoSockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(echoPort, '127.0.0.1', resolve));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  for (const socket of echoSockets) socket.destroy();
  await new Promise((resolve) => echo.close(resolve));
  await stopAllRedis();
});

describe('freePort', () => {
  it('returns a bindable loopback port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('FaultProxy', () => {
  it('pass: forwards both ways and counts connections and client bytes', async () => {
    const proxy = await startProxy();
    const c = client(proxy.port);
    c.socket.write('hello');
    await waitFor(() => c.received() === 'hello');
    c.socket.write('!!');
    await waitFor(() => c.received() === 'hello!!');
    expect(proxy.stats()).toMatchObject({
      mode: 'pass',
      connectionsAccepted: 1,
      bytesFromClients: 7,
      bytesToClients: 7,
      activeConnections: 1,
    });
    proxy.resetCounters();
    expect(proxy.stats()).toMatchObject({
      connectionsAccepted: 0,
      connectionsAcceptedTotal: 1,
      bytesFromClients: 0,
      bytesFromClientsTotal: 7,
    });
  });

  it('refuse: new connections get ECONNREFUSED, open ones are reset; pass again on the same port', async () => {
    const proxy = await startProxy();
    const open = client(proxy.port);
    await waitFor(() => open.connected);
    await proxy.setMode('refuse');
    await waitFor(() => open.closed);
    expect(open.errorCode).toBe('ECONNRESET');

    const refused = client(proxy.port);
    await waitFor(() => refused.closed);
    expect(refused.errorCode).toBe('ECONNREFUSED');
    expect(refused.connected).toBe(false);

    await proxy.setMode('pass');
    const again = client(proxy.port);
    again.socket.write('back');
    await waitFor(() => again.received() === 'back');
  });

  it('refuse can be the initial mode', async () => {
    const proxy = await FaultProxy.start({ targetPort: echoPort, mode: 'refuse' });
    proxies.push(proxy);
    const refused = client(proxy.port);
    await waitFor(() => refused.closed);
    expect(refused.errorCode).toBe('ECONNREFUSED');
    expect(proxy.stats().connectionsAccepted).toBe(0);
  });

  it('blackhole: accepts, swallows and counts bytes, never answers, never resets', async () => {
    const proxy = await startProxy();
    const before = client(proxy.port);
    before.socket.write('a');
    await waitFor(() => before.received() === 'a');

    await proxy.setMode('blackhole');
    before.socket.write('bc'); // an open connection stops forwarding too
    const fresh = client(proxy.port);
    fresh.socket.write('xyz');
    await waitFor(() => proxy.stats().bytesFromClients === 1 + 2 + 3);
    await sleep(150);
    expect(before.received()).toBe('a');
    expect(fresh.received()).toBe('');
    expect(fresh.connected).toBe(true);
    expect(before.closed || fresh.closed).toBe(false);
    expect(proxy.stats().connectionsAccepted).toBe(2);
  });

  it('leaving blackhole resets connections whose bytes were swallowed, keeps clean ones', async () => {
    const proxy = await startProxy();
    await proxy.setMode('blackhole');
    const dirty = client(proxy.port);
    const clean = client(proxy.port);
    dirty.socket.write('lost');
    await waitFor(() => dirty.connected && clean.connected && proxy.stats().bytesFromClients === 4);
    await proxy.setMode('pass');
    await waitFor(() => dirty.closed);
    expect(dirty.errorCode).toBe('ECONNRESET');
    clean.socket.write('ok');
    await waitFor(() => clean.received() === 'ok');
    expect(clean.closed).toBe(false);
  });

  it('delay: holds each chunk for delayMs in each direction, in order', async () => {
    const proxy = await startProxy();
    await proxy.setMode('delay', { delayMs: 80 });
    const c = client(proxy.port);
    await waitFor(() => c.connected);
    const started = performance.now();
    c.socket.write('1');
    c.socket.write('2');
    c.socket.write('3');
    await waitFor(() => c.received() === '123', { timeoutMs: 2_000 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150); // 80 ms up + 80 ms down, minus timer slack
    expect(elapsed).toBeLessThan(1_000);
  });

  it('switching from delay to pass flushes queued chunks in order', async () => {
    const proxy = await startProxy();
    await proxy.setMode('delay', { delayMs: 5_000 });
    const c = client(proxy.port);
    c.socket.write('ab');
    await waitFor(() => proxy.stats().bytesFromClients === 2);
    await proxy.setMode('pass');
    c.socket.write('cd');
    await waitFor(() => c.received() === 'abcd');
  });

  it('reset: new connections and open ones get an RST', async () => {
    const proxy = await startProxy();
    const open = client(proxy.port);
    await waitFor(() => open.connected);
    await proxy.setMode('reset');
    await waitFor(() => open.closed);
    expect(open.errorCode).toBe('ECONNRESET');

    const fresh = client(proxy.port);
    fresh.socket.write('x');
    await waitFor(() => fresh.closed);
    expect(fresh.errorCode).toBe('ECONNRESET');
    expect(fresh.received()).toBe('');
    expect(proxy.stats().connectionsAccepted).toBe(2);
  });

  it('close() destroys every connection and stops listening', async () => {
    const proxy = await startProxy();
    const c = client(proxy.port);
    await waitFor(() => c.connected);
    await proxy.close();
    await waitFor(() => c.closed);
    const after = client(proxy.port);
    await waitFor(() => after.closed);
    expect(after.errorCode).toBe('ECONNREFUSED');
    await expect(proxy.setMode('pass')).rejects.toThrow(/closed/);
  });

  it('a dead target looks like a failed connection to the client', async () => {
    const proxy = await FaultProxy.start({ targetPort: await freePort() });
    proxies.push(proxy);
    const c = client(proxy.port);
    await waitFor(() => c.closed);
    expect(c.errorCode).toBe('ECONNRESET');
  });
});

describe('RedisProcess (+ FaultProxy in front of a real redis-server)', () => {
  it('starts, answers through the proxy, survives SIGKILL + restart on the same port', async () => {
    const redis = await RedisProcess.start();
    expect(await pingRedis(redis.port)).toBe(true);
    const proxy = await FaultProxy.start({ targetPort: redis.port });
    proxies.push(proxy);
    expect(await pingRedis(proxy.port)).toBe(true);
    expect(proxy.stats().bytesFromClients).toBe('PING\r\n'.length);

    await redis.kill('SIGKILL');
    expect(redis.running).toBe(false);
    expect(await pingRedis(redis.port)).toBe(false);
    expect(await pingRedis(proxy.port)).toBe(false);

    const port = redis.port;
    await redis.restart();
    expect(redis.port).toBe(port);
    expect(await pingRedis(proxy.port)).toBe(true);

    await redis.kill('SIGTERM');
    expect(redis.running).toBe(false);
    await redis.stop();
    await redis.stop(); // idempotent
  });

  it('stopAllRedis stops every instance', async () => {
    const a = await RedisProcess.start();
    const b = await RedisProcess.start();
    expect(a.port).not.toBe(b.port);
    await stopAllRedis();
    expect(a.running || b.running).toBe(false);
    expect(await pingRedis(a.port)).toBe(false);
  });
});
