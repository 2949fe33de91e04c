import { Hono, type Context } from 'hono';
import type { CascadeCache } from '../../dependencies/cache/cascade-cache.js';
import { readJsonObject } from '../body.js';
import { HttpError } from '../errors.js';

export const CACHE_KEY_PATTERN = /^[A-Za-z0-9:_.-]{1,256}$/;
/** The longest TTL a client may ask for: 30 days. */
export const MAX_TTL_SECONDS = 30 * 24 * 3600;
const CIRCUIT_HEADER = 'x-circuit-open';

function keyOf(c: Context): string {
  const key = c.req.param('key') ?? '';
  if (!CACHE_KEY_PATTERN.test(key)) {
    throw new HttpError(
      400,
      'invalid_key',
      'the cache key must be 1 to 256 characters from [A-Za-z0-9:_.-]',
      { key: key.slice(0, 300) },
    );
  }
  return key;
}

function parseTtl(body: Record<string, unknown>): number | undefined {
  const ttl = body.ttl_seconds;
  if (ttl === undefined || ttl === null) return undefined;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl)) {
    throw new HttpError(400, 'invalid_ttl', '"ttl_seconds" must be a number of seconds');
  }
  if (ttl <= 0 || ttl > MAX_TTL_SECONDS) {
    throw new HttpError(
      400,
      'invalid_ttl',
      `"ttl_seconds" must be > 0 and at most ${MAX_TTL_SECONDS}`,
    );
  }
  return ttl;
}

/**
 * The L1 + Redis cache. Calls that skipped Redis because its breaker refused them still
 * answer (from L1, or as a miss) and say so in `x-circuit-open: redis_cache`.
 */
export function cacheRoutes(
  cache: CascadeCache,
  breakerName: string,
  { bodyLimitBytes }: { bodyLimitBytes: number },
): Hono {
  const app = new Hono();

  app.get('/:key', async (c) => {
    const key = keyOf(c);
    const result = await cache.get(key);
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, breakerName);
    if (result.entry === undefined) {
      return c.json({ error: 'not_found', message: `no cached value for key ${key}`, key }, 404);
    }
    return c.json({ key, value: result.entry.value, source: result.entry.source });
  });

  app.put('/:key', async (c) => {
    const key = keyOf(c);
    const body = await readJsonObject(c, bodyLimitBytes);
    if (!('value' in body) || body.value === undefined) {
      throw new HttpError(400, 'missing_value', 'the body must have a "value" (any JSON value)');
    }
    // The limit holds for what is stored too: the value's JSON text, which JSON.stringify can
    // make longer than the body (`12e20` is stored as `1.2e+21`).
    const storedBytes = Buffer.byteLength(JSON.stringify(body.value), 'utf8');
    if (storedBytes > bodyLimitBytes) {
      throw new HttpError(
        413,
        'payload_too_large',
        `the value takes ${storedBytes} bytes as stored JSON; at most ${bodyLimitBytes}`,
      );
    }
    const ttlSeconds = parseTtl(body);
    const result = await cache.set(
      key,
      body.value,
      ttlSeconds === undefined ? undefined : ttlSeconds * 1000,
    );
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, breakerName);
    return c.json({ key, stored: { l1: result.l1, l2: result.l2 } });
  });

  app.delete('/:key', async (c) => {
    const key = keyOf(c);
    const result = await cache.delete(key);
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, breakerName);
    return c.json({ key, deleted: { l1: result.l1, l2: result.l2 } });
  });

  return app;
}
