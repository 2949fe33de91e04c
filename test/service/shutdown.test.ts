import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeModels,
  RedisProcess,
  ServiceProcess,
  sleep,
  stopAllRedis,
  stopAllServices,
} from '@breakerbox/devkit';

// SIGTERM closes connections that are not serving a request (idle keep-alive ones, and slow
// clients still sending their request head) at once, so a client that trickles its headers
// cannot hold the process past its 10 s hard stop: it exits 0 after closing Redis and flushing
// telemetry. In-flight requests still get the grace period (test/service/e2e.test.ts).
let redis: RedisProcess;
let env: Record<string, string>;
const sockets: Socket[] = [];

beforeAll(async () => {
  redis = await RedisProcess.start();
  const models = await makeModels();
  env = {
    REDIS_URL: redis.url,
    EMBEDDING_MODEL: models.text,
    CODE_EMBEDDING_MODEL: models.code,
    MODELS_DIR: models.dir,
  };
}, 60_000);
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});
afterAll(async () => {
  await stopAllServices();
  await stopAllRedis();
});

/** A client that sends a request line one byte every 200 ms and never finishes its headers. */
async function trickle(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset by the server is what we expect
  const line = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(10_000);
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= line.length) return clearInterval(timer);
    socket.write(line[sent++]!);
  }, 200);
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now());
    }),
  );
  return { socket, closed };
}

/** One request on a keep-alive agent, so its connection stays open and idle. */
function keepAliveRequest(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health/live', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SIGTERM with slow and idle clients connected', () => {
  it('closes a client that trickles its headers at once and exits 0 within 10 s, Redis closed', async () => {
    const service = await ServiceProcess.start(env);
    const agent = new Agent({ keepAlive: true });
    expect(await keepAliveRequest(service.port, agent)).toBe(200);
    const slow = await Promise.all([trickle(service.port), trickle(service.port)]);
    await sleep(1_000); // a few bytes of each request line have arrived
    expect(slow.every((s) => !s.socket.destroyed)).toBe(true);

    const signalled = Date.now();
    const code = await service.stop('SIGTERM', 20_000);
    const exitedAfterMs = Date.now() - signalled;
    const cutAfterMs = Math.max(...(await Promise.all(slow.map((s) => s.closed)))) - signalled;
    console.log(
      `shutdown with 2 trickling clients and 1 idle keep-alive connection: exit ${code} after ${exitedAfterMs} ms; slow sockets closed after ${cutAfterMs} ms`,
    );
    agent.destroy();

    expect(code).toBe(0);
    expect(exitedAfterMs).toBeLessThan(10_000); // the promised bound (main's hard stop), far above the typical
    const events = service.logLines().map((l) => l.event);
    expect(events).toContain('shutdown');
    expect(events).toContain('dependencies_closed');
    expect(events).toContain('stopped');
    expect(events).not.toContain('shutdown_timeout');
    expect(service.output).not.toMatch(/unhandled/i);
  }, 60_000);

  it('in-flight requests beside the tricklers still get their answers', async () => {
    const service = await ServiceProcess.start(env);
    await Promise.all([trickle(service.port), trickle(service.port)]);
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      service.json('/v1/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: Array.from({ length: 32 }, (_, j) => `text ${i} ${j}`) }),
      }),
    );
    await sleep(20);
    const code = service.stop('SIGTERM', 20_000);
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(await code).toBe(0);
  }, 60_000);
});
