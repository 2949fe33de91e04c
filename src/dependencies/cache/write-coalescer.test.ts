import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisProcess, stopAllRedis } from '@breakerbox/devkit';
import { closeRedisClient, createRedisClient, waitForRedisReady } from './redis-client.js';
import { WriteCoalescer } from './write-coalescer.js';

let redis: RedisProcess;
let client: Redis;
let observer: Redis;

beforeAll(async () => {
  redis = await RedisProcess.start();
  client = createRedisClient({ url: redis.url });
  observer = createRedisClient({ url: redis.url });
  await Promise.all([waitForRedisReady(client, 5_000), waitForRedisReady(observer, 5_000)]);
  await client.mset(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, `v${i}`])));
});

afterAll(async () => {
  await Promise.all([closeRedisClient(client), closeRedisClient(observer)]);
  await stopAllRedis();
});

/** Read events Redis has processed on all its connections (INFO stats, Redis >= 6). */
async function readsProcessed(): Promise<number> {
  const info = await observer.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(info)?.[1]);
}

/** 50 GETs issued in one turn, answered in order; how many reads Redis needed for them. */
async function fiftyGets(hold: () => void): Promise<number> {
  const before = await readsProcessed();
  const replies = Array.from({ length: 50 }, (_, i) => {
    hold();
    return client.get(`k${i}`);
  });
  expect(await Promise.all(replies)).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));
  // Minus the observer's own INFO read.
  return (await readsProcessed()) - before - 1;
}

describe('WriteCoalescer', () => {
  it("sends one turn's commands as one write: Redis reads them in one go", async () => {
    const coalescer = new WriteCoalescer(client);
    const coalesced = await fiftyGets(() => coalescer.hold());
    const separate = await fiftyGets(() => undefined);
    expect(coalesced).toBeLessThanOrEqual(2);
    expect(separate).toBeGreaterThan(10);
  });

  it('uncorks the socket once the turn is over (one immediate per turn, none per command)', async () => {
    const coalescer = new WriteCoalescer(client);
    for (let i = 0; i < 10; i++) coalescer.hold();
    expect(client.stream.writableCorked).toBe(1);
    const reply = client.get('k1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.stream.writableCorked).toBe(0);
    expect(await reply).toBe('v1');
    // The next turn corks again.
    coalescer.hold();
    expect(client.stream.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.stream.writableCorked).toBe(0);
  });

  it('leaves a connection that is not ready alone: its commands still fail at once', async () => {
    const offline = createRedisClient({ url: 'redis://127.0.0.1:1', autoConnect: false });
    const coalescer = new WriteCoalescer(offline);
    coalescer.hold();
    await expect(offline.get('k1')).rejects.toThrow();
    await closeRedisClient(offline);
  });
});
