import { Hono, type Context } from 'hono';
import type { CascadeCache } from '../../dependencies/cache/cascade-cache.js';
import { JournalFullError } from '../../dependencies/cache/journal.js';
import { readJsonObject } from '../body.js';
import { HttpError } from '../errors.js';

export const CACHE_KEY_PATTERN = /^[A-Za-z0-9:_.-]{1,256}$/;
/** The longest TTL a client may ask for: 30 days. */
export const MAX_TTL_SECONDS = 30 * 24 * 3600;
const CIRCUIT_HEADER = 'x-circuit-open';
/** Set on an L1 copy served while its coherence with Redis is not proven (a bounded fallback). */
export const STALE_HEADER = 'x-cache-stale';

/** An invalidation that Redis did not confirm and the journal could not take: an honest 503. */
async function journaled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof JournalFullError)) throw error;
    throw new HttpError(
      503,
      'cache_unavailable',
      'Redis did not confirm the change and the invalidation journal is full; nothing was changed, retry later',
      { retry_after_seconds: 5 },
    );
  }
}

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
 * answer (from L1, or as a miss) and say so in `x-circuit-open: redis_cache` (on a cluster, the
 * shard breaker that refused: `redis_cache:<shard>`).
 */
export function cacheRoutes(
  cache: CascadeCache,
  breakerName: string,
  { bodyLimitBytes }: { bodyLimitBytes: number },
): Hono {
  const app = new Hono();

  app.get('/:key', async (c) => {
    const key = keyOf(c);
    const result = await cache.getJson(key);
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, result.circuitBreaker ?? breakerName);
    if (result.json === undefined) {
      return c.json({ error: 'not_found', message: `no cached value for key ${key}`, key }, 404);
    }
    if (result.stale) c.header(STALE_HEADER, 'true');
    // The stored JSON text is served as is: no parse, no re-stringify (keys need no escaping).
    // The content type goes in as a fresh plain object (Hono and the Node adapter then build no
    // Headers instance when it is the only header).
    return c.body(`{"key":"${key}","value":${result.json},"source":"${result.source}"}`, 200, {
      'content-type': 'application/json',
    });
  });

  app.put('/:key', async (c) => {
    const key = keyOf(c);
    const body = await readJsonObject(c, bodyLimitBytes);
    if (!('value' in body) || body.value === undefined) {
      throw new HttpError(400, 'missing_value', 'the body must have a "value" (any JSON value)');
    }
    // The limit holds for what is stored too: the value's JSON text, which JSON.stringify can
    // make longer than the body (`12e20` is stored as `1.2e+21`).
    const json = JSON.stringify(body.value);
    const storedBytes = Buffer.byteLength(json, 'utf8');
    if (storedBytes > bodyLimitBytes) {
      throw new HttpError(
        413,
        'payload_too_large',
        `the value takes ${storedBytes} bytes as stored JSON; at most ${bodyLimitBytes}`,
      );
    }
    const ttlSeconds = parseTtl(body);
    const result = await journaled(() =>
      cache.setJson(key, json, ttlSeconds === undefined ? undefined : ttlSeconds * 1000),
    );
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, result.circuitBreaker ?? breakerName);
    return c.json({ key, stored: { l1: result.l1, l2: result.l2 } });
  });

  app.delete('/:key', async (c) => {
    const key = keyOf(c);
    const result = await journaled(() => cache.delete(key));
    if (result.circuitOpen) c.header(CIRCUIT_HEADER, result.circuitBreaker ?? breakerName);
    return c.json({ key, deleted: { l1: result.l1, l2: result.l2 } });
  });

  return app;
}
