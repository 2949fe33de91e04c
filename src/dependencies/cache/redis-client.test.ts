import { afterAll, describe, expect, it } from 'vitest';
import { RedisProcess, stopAllRedis, freePort, waitFor } from '@breakerbox/devkit';
import {
  closeRedisClient,
  createRedisClient,
  parseRedisUrl,
  reconnectDelay,
  redactRedisUrl,
  redisClientOptions,
  waitForRedisReady,
  type RedisClientEvent,
} from './redis-client.js';

afterAll(() => stopAllRedis());

describe('redactRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0'],
    ['redis://user:s3cr3t@cache.internal:6380/2', 'redis://***@cache.internal:6380/2'],
    ['redis://:s3cr3t@cache:6379', 'redis://***@cache:6379'],
    ['rediss://default:p%40ss@host/1', 'rediss://***@host/1'],
    ['redis://host/0?password=s3cr3t&family=4', 'redis://host/0?password=***&family=4'],
  ])('%s -> %s', (input, expected) => {
    expect(redactRedisUrl(input)).toBe(expected);
  });

  it('never echoes something that does not parse', () => {
    expect(redactRedisUrl('user:s3cr3t@@@ not a url')).toBe('<invalid url>');
    expect(redactRedisUrl('http://u:s3cr3t@h/')).toBe('<invalid url>');
  });
});

describe('parseRedisUrl', () => {
  it('reads host, port, db, credentials and TLS', () => {
    expect(parseRedisUrl('rediss://me:p%40ss@[::1]:7000/3')).toEqual({
      host: '::1',
      port: 7000,
      db: 3,
      username: 'me',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis://h')).toMatchObject({ port: 6379, db: 0, username: undefined });
  });

  it.each([
    ['nope', /not a valid URL/],
    ['http://h:1/0', /expected redis/],
    ['redis://h/0?enableOfflineQueue=true', /query parameters/],
    ['redis://h/x', /database number/],
  ])('rejects %s naming REDIS_URL', (input, message) => {
    expect(() => parseRedisUrl(input)).toThrow(message);
    expect(() => parseRedisUrl(input)).toThrow(/^REDIS_URL: /);
  });

  it('does not put the password in the error', () => {
    expect(() => parseRedisUrl('redis://u:topsecret@h/zz')).toThrow(/^(?!.*topsecret)/);
  });
});

describe('redisClientOptions', () => {
  it('fails fast by construction', () => {
    const o = redisClientOptions({ url: 'redis://127.0.0.1:1/0', commandTimeoutMs: 150 });
    expect(o).toMatchObject({
      commandTimeout: 150,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      enableReadyCheck: false,
      connectTimeout: 1_000,
      socketTimeout: 2_000,
    });
    expect(redisClientOptions().commandTimeout).toBe(500);
    expect(redisClientOptions({ socketTimeoutMs: null }).socketTimeout).toBeUndefined();
    expect(() => redisClientOptions({ commandTimeoutMs: 0 })).toThrow(/REDIS_COMMAND_TIMEOUT_MS/);
  });

  it('backs off exponentially with a cap', () => {
    for (let attempt = 1; attempt < 50; attempt++) {
      const d = reconnectDelay(attempt, 50, 2_000);
      const step = Math.min(2_000, 50 * 2 ** (attempt - 1));
      expect(d).toBeGreaterThanOrEqual(step / 2 - 1);
      expect(d).toBeLessThanOrEqual(step);
    }
  });
});

describe('createRedisClient', () => {
  it('never throws or crashes with nothing listening, and commands fail at once', async () => {
    const port = await freePort();
    const events: RedisClientEvent[] = [];
    const client = createRedisClient({
      url: `redis://127.0.0.1:${port}/0`,
      commandTimeoutMs: 1_000,
      reconnectBaseMs: 5,
      reconnectMaxMs: 20,
      onEvent: (e) => events.push(e),
    });
    try {
      await waitFor(() => events.some((e) => e.type === 'reconnecting'));
      const started = performance.now();
      await expect(client.get('k')).rejects.toThrow(/writeable|closed/);
      expect(performance.now() - started).toBeLessThan(50);
      expect(events.find((e) => e.type === 'error')).toMatchObject({ code: 'ECONNREFUSED' });
      expect(await waitForRedisReady(client, 30)).toBe(false);
    } finally {
      await closeRedisClient(client);
    }
    const after = events.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(
      events.slice(after).filter((e) => e.type === 'connect' || e.type === 'reconnecting'),
    ).toEqual([]);
  });

  it('connects, times commands out, and reconnects after a restart', async () => {
    const redis = await RedisProcess.start();
    const client = createRedisClient({
      url: redis.url,
      commandTimeoutMs: 100,
      reconnectBaseMs: 5,
      reconnectMaxMs: 20,
    });
    try {
      expect(await waitForRedisReady(client, 2_000)).toBe(true);
      expect(await client.ping()).toBe('PONG');
      // DEBUG SLEEP blocks the server past the command timeout.
      await expect(client.call('DEBUG', 'SLEEP', '0.3')).rejects.toThrow(/timed out/);
      await redis.kill('SIGKILL');
      await waitFor(() => client.status !== 'ready');
      await expect(client.ping()).rejects.toThrow();
      await redis.restart();
      expect(await waitForRedisReady(client, 2_000)).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await closeRedisClient(client);
      await closeRedisClient(client); // idempotent
    }
  });

  it('keeps credentials out of every event', async () => {
    const redis = await RedisProcess.start({ extraArgs: ['--requirepass', 'right-pass'] });
    const events: RedisClientEvent[] = [];
    const client = createRedisClient({
      url: `redis://default:wrong-pass-xyz@127.0.0.1:${redis.port}/0`,
      reconnectBaseMs: 20,
      reconnectMaxMs: 50,
      onEvent: (e) => {
        events.push(e);
        throw new Error('a broken hook must not break the client');
      },
    });
    try {
      await waitFor(() => events.some((e) => e.type === 'error'));
      expect(JSON.stringify(events)).not.toContain('wrong-pass-xyz');
    } finally {
      await closeRedisClient(client);
    }
  });
});
