// Run as `node --expose-gc --import tsx test/support/heap-child.ts <ops>` by
// test/service/heap.test.ts: the service as `npm start` builds it (OpenTelemetry SDK included)
// listening on loopback, driven by this process's own keep-alive HTTP client (node:http makes
// no AbortSignal), and the live heap measured after full collections. Prints one JSON line.
import { Agent, request } from 'node:http';
import { pino } from 'pino';
import { freePort, makeModels, RedisProcess } from '@breakerbox/devkit';
import { buildService } from '../../src/composition/build-service.js';
import { loadConfig } from '../../src/config/config.js';

const ops = Number(process.argv[2] ?? 20_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const redis = await RedisProcess.start();
const models = await makeModels();
const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: '0',
  REDIS_URL: redis.url,
  EMBEDDING_MODEL: models.text,
  CODE_EMBEDDING_MODEL: models.code,
  OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
  OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()),
  LOG_LEVEL: 'warn',
});
const service = await buildService(config, { logger: pino({ level: 'warn' }) }).listen();
const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function send(method: 'PUT' | 'DELETE', key: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: service.port,
        method,
        path: `/v1/cache/${key}`,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `count` operations, 8 at a time: PUT then DELETE over 500 keys. */
async function run(count: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const key = `heap:${i % 500}`;
      const status =
        i % 2 === 0
          ? await send('PUT', key, JSON.stringify({ value: { i, text: 'x'.repeat(64) } }))
          : await send('DELETE', key);
      if (status !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return failed;
}

async function liveHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

let failed = await run(2_000); // warm-up: JIT, pools, the L1's steady state
const before = await liveHeap();
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().heapUsed);
}, 50);
failed += await run(ops);
clearInterval(sampler);
const after = await liveHeap();
process.stdout.write(`${JSON.stringify({ ops, before, after, peak, failed })}\n`);
agent.destroy();
await service.stop();
await redis.stop();
process.exit(0);
