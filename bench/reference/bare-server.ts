/**
 * The reference a user compares breakerbox against: the same cache GET route written in a few
 * lines of Hono + ioredis, with no breaker, no telemetry and no L1.
 *
 *   node --import tsx bench/reference/bare-server.ts PORT REDIS_PORT
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

const [port, redisPort] = process.argv.slice(2).map(Number);
const redis = new Redis({ host: '127.0.0.1', port: redisPort });
const app = new Hono();

app.get('/v1/cache/:key', async (c) => {
  const key = c.req.param('key');
  const raw = await redis.get(`bare:${key}`);
  if (raw === null) return c.json({ error: 'not_found', key }, 404);
  return c.json({ key, value: JSON.parse(raw) as unknown, source: 'l2' });
});

serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.send?.('ready'));
process.on('SIGTERM', () => {
  redis.disconnect();
  process.exit(0);
});
