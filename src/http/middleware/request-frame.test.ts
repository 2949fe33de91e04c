import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { Hono, type ErrorHandler } from 'hono';
import { describe, expect, it } from 'vitest';
import { HttpServerDurations } from '../../otel/http-server-durations.js';
import { RequestFrame } from './request-frame.js';

/** Each recorded series as { attributes, count }. */
async function series(durations: HttpServerDurations) {
  const { resourceMetrics } = await durations.collect();
  const points: Array<DataPoint<Histogram>> = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .flatMap((metric) => metric.dataPoints as Array<DataPoint<Histogram>>);
  return points.map((point) => ({ attributes: point.attributes, count: point.value.count }));
}

const onError: ErrorHandler = (_error, c) => c.json({ error: 'internal' }, 500);

/** An app built the way app.ts builds it: routers mounted in the frame, 404s in it too. */
function app(options: { shuttingDown?: boolean } = {}) {
  const durations = new HttpServerDurations();
  const frame = new RequestFrame({
    bodyLimitBytes: 10,
    durations,
    isShuttingDown: () => options.shuttingDown === true,
    onError,
  });
  const hono = new Hono();
  let ran = 0;
  const items = new Hono();
  items.get('/:id', (c) => c.json({ id: c.req.param('id') }));
  items.post('/', (c) => {
    ran++;
    return c.json({ ok: true });
  });
  items.get('/boom/now', () => {
    throw new Error('boom');
  });
  items.get('/later/boom', async () => {
    await Promise.resolve();
    throw new Error('boom');
  });
  frame.mount(hono, '/items', items);
  // A router with middleware of its own: the frame goes in front of it as a middleware.
  const guarded = new Hono();
  guarded.use('*', async (c, next) => {
    if (c.req.header('x-token') !== 'yes') return c.json({ error: 'unauthorized' }, 401);
    await next();
  });
  guarded.get('/:name', (c) => c.json({ name: c.req.param('name') }));
  frame.mount(hono, '/guarded', guarded);
  hono.notFound(frame.wrapNotFound((c) => c.json({ error: 'not_found' }, 404)));
  hono.onError(onError);
  return { hono, durations, ran: () => ran };
}

const attributes = (method: string, status: number, route?: string) => ({
  'http.request.method': method,
  'http.response.status_code': status,
  'url.scheme': 'http',
  ...(route === undefined ? {} : { 'http.route': route }),
  ...(status >= 500 ? { 'error.type': String(status) } : {}),
});

describe('RequestFrame', () => {
  it('records one duration per request by route template, method and status', async () => {
    const { hono, durations } = app();
    expect((await hono.request('/items/a')).status).toBe(200);
    expect((await hono.request('/items/b')).status).toBe(200);
    expect((await hono.request('/nowhere')).status).toBe(404);
    expect((await hono.request('/items/boom/now')).status).toBe(500);
    expect((await hono.request('/items/later/boom')).status).toBe(500);
    expect((await hono.request('/items/a', { method: 'PROPFIND' })).status).toBe(404);
    expect((await hono.request('/guarded/x')).status).toBe(401);
    expect((await hono.request('/guarded/x', { headers: { 'x-token': 'yes' } })).status).toBe(200);
    const recorded = await series(durations);
    expect(recorded).toEqual(
      expect.arrayContaining([
        { attributes: attributes('GET', 200, '/items/:id'), count: 2 },
        { attributes: attributes('GET', 404), count: 1 },
        { attributes: attributes('GET', 500, '/items/boom/now'), count: 1 },
        { attributes: attributes('GET', 500, '/items/later/boom'), count: 1 },
        { attributes: attributes('_OTHER', 404), count: 1 },
        { attributes: attributes('GET', 401, '/guarded/:name'), count: 1 },
        { attributes: attributes('GET', 200, '/guarded/:name'), count: 1 },
      ]),
    );
    expect(recorded).toHaveLength(7);
  });

  it('records a 404 under a router with middleware of its own once', async () => {
    const { hono, durations } = app();
    const res = await hono.request('/guarded/x/y', { headers: { 'x-token': 'yes' } });
    expect(res.status).toBe(404);
    expect(await series(durations)).toEqual([{ attributes: attributes('GET', 404), count: 1 }]);
  });

  it('gives a route without middleware of its own exactly one handler (Hono calls it directly)', () => {
    const { hono } = app();
    const handlers = (method: string, path: string) =>
      hono.routes.filter((r) => r.method === method && r.path === path).length;
    expect(handlers('GET', '/items/:id')).toBe(1);
    expect(handlers('POST', '/items')).toBe(1);
    expect(hono.routes.filter((r) => r.method === 'ALL').map((r) => r.path)).toEqual([
      '/guarded/*',
      '/guarded/*',
    ]);
  });

  it('refuses a declared body over the limit before the route runs, and records the 413', async () => {
    const { hono, durations, ran } = app();
    const res = await hono.request('/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '11' },
      body: '{"a":"bcd"}',
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(ran()).toBe(0);
    const unrouted = await hono.request('/nowhere', {
      method: 'POST',
      headers: { 'content-length': '11' },
      body: '{"a":"bcd"}',
    });
    expect(unrouted.status).toBe(413);
    expect(await series(durations)).toEqual([
      { attributes: attributes('POST', 413, '/items'), count: 1 },
      { attributes: attributes('POST', 413), count: 1 },
    ]);
    const small = await hono.request('/items', { method: 'POST', body: '{}' });
    expect(small.status).toBe(200);
    expect(ran()).toBe(1);
  });

  it('says Connection: close only while shutting down, on every kind of answer', async () => {
    expect((await app().hono.request('/items/a')).headers.get('connection')).toBeNull();
    const draining = app({ shuttingDown: true }).hono;
    for (const path of ['/items/a', '/nowhere', '/items/boom/now', '/guarded/x']) {
      expect((await draining.request(path)).headers.get('connection')).toBe('close');
    }
  });

  it('records nothing without durations and still guards the body limit', async () => {
    const frame = new RequestFrame({ bodyLimitBytes: 1, onError });
    const hono = new Hono();
    const router = new Hono();
    router.post('/', (c) => c.text('ok'));
    frame.mount(hono, '/x', router);
    const res = await hono.request('/x', {
      method: 'POST',
      headers: { 'content-length': '8' },
      body: 'too long',
    });
    expect(res.status).toBe(413);
  });
});
