/**
 * Cache GET through the service's cache object and its HTTP route (in process, app.request)
 * against a bare ioredis GET, in the same run on the same private redis-server: on an L1 hit
 * and on an L2 hit. Run by `npm run bench` (bench/index.ts); alone: `tsx bench/cache-get.ts`.
 * Writes {cases: [{name, nsPerOp}]} to --out when given.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisProcess, sleep } from '@breakerbox/devkit';
import { buildService } from '../src/composition/build-service.js';
import { createLogger } from '../src/composition/logger.js';
import { loadConfig } from '../src/config/config.js';

export interface CacheGetResult {
  cases: Array<{ name: string; nsPerOp: number }>;
}

const quick = process.argv.includes('--quick');
const outIndex = process.argv.indexOf('--out');
const out = outIndex >= 0 ? process.argv[outIndex + 1] : undefined;
const N = quick ? 2_000 : 20_000;

async function measure(op: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(N, 2_000); i++) await op(i); // warm-up
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await op(i);
    rounds.push(Number(process.hrtime.bigint() - t0) / N);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2]!; // median
}

const redis = await RedisProcess.start();
const bare = new Redis({ port: redis.port, host: '127.0.0.1' });
const service = buildService(
  loadConfig({
    REDIS_URL: redis.url,
    // Two L1 entries and two alternating L2 keys: every L2-case read misses L1.
    CACHE_L1_MAX_ENTRIES: '2',
    CACHE_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'bb-bench-journal-')),
    LOG_LEVEL: 'silent',
  }),
  { logger: createLogger('silent', 'bench'), openTelemetry: false },
);
await sleep(300); // tracking on
const cache = service.cache.cache;
const value = { name: 'Ada', tags: ['a', 'b', 'c'], n: 42 };
await cache.set('hot', value);
await cache.get('hot');
await cache.get('hot');
const l2Keys = ['cold:0', 'cold:1', 'cold:2', 'cold:3'];
for (const k of l2Keys) await cache.set(k, value);
await bare.set('bare', JSON.stringify(value));

const cases: CacheGetResult['cases'] = [];
const run = async (name: string, op: (i: number) => unknown): Promise<void> => {
  cases.push({ name, nsPerOp: await measure(op) });
};
await run('bare ioredis GET', () => bare.get('bare'));
await run('cache.getJson L1 hit', () => cache.getJson('hot'));
await run('cache.getJson L2 hit', (i) => cache.getJson(l2Keys[i % 4]!));
await run('GET /v1/cache L1 hit (app.request)', () => service.app.request('/v1/cache/hot'));
await run('GET /v1/cache L2 hit (app.request)', (i) =>
  service.app.request(`/v1/cache/${l2Keys[i % 4]!}`),
);
const l1 = cache.stats().lookups;

bare.disconnect();
await service.close();
await redis.stop();

if (out !== undefined) writeFileSync(out, JSON.stringify({ cases } satisfies CacheGetResult));
else {
  const base = cases[0]!.nsPerOp;
  for (const c of cases)
    console.log(
      `${c.name.padEnd(38)} ${(c.nsPerOp / 1000).toFixed(1)} µs  ${(c.nsPerOp / base).toFixed(2)}x bare`,
    );
  console.log('lookups', l1);
}
