import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { HttpServerDurations } from '../../otel/http-server-durations.js';
import { requestFrame } from './request-frame.js';

/** Each recorded series as { attributes, count }. */
async function series(durations: HttpServerDurations) {
  const { resourceMetrics } = await durations.collect();
  const points: Array<DataPoint<Histogram>> = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .flatMap((metric) => metric.dataPoints as Array<DataPoint<Histogram>>);
  return points.map((point) => ({ attributes: point.attributes, count: point.value.count }));
}

function app(options: { shuttingDown?: boolean } = {}) {
  const durations = new HttpServerDurations();
  const hono = new Hono();
  hono.use(
    '*',
    requestFrame({
      bodyLimitBytes: 10,
      durations,
      isShuttingDown: () => options.shuttingDown === true,
    }),
  );
  let ran = 0;
  hono.get('/items/:id', (c) => c.json({ id: c.req.param('id') }));
  hono.post('/items', (c) => {
    ran++;
    return c.json({ ok: true });
  });
  hono.get('/boom', () => {
    throw new Error('boom');
  });
  hono.onError((_error, c) => c.json({ error: 'internal' }, 500));
  return { hono, durations, ran: () => ran };
}

describe('requestFrame', () => {
  it('records one duration per request by route template, method and status', async () => {
    const { hono, durations } = app();
    expect((await hono.request('/items/a')).status).toBe(200);
    expect((await hono.request('/items/b')).status).toBe(200);
    expect((await hono.request('/nowhere')).status).toBe(404);
    expect((await hono.request('/boom')).status).toBe(500);
    expect((await hono.request('/items/a', { method: 'PROPFIND' })).status).toBe(404);
    expect(await series(durations)).toEqual(
      expect.arrayContaining([
        {
          attributes: {
            'http.request.method': 'GET',
            'http.response.status_code': 200,
            'url.scheme': 'http',
            'http.route': '/items/:id',
          },
          count: 2,
        },
        {
          attributes: {
            'http.request.method': 'GET',
            'http.response.status_code': 404,
            'url.scheme': 'http',
          },
          count: 1,
        },
        {
          attributes: {
            'http.request.method': 'GET',
            'http.response.status_code': 500,
            'url.scheme': 'http',
            'http.route': '/boom',
            'error.type': '500',
          },
          count: 1,
        },
        {
          attributes: {
            'http.request.method': '_OTHER',
            'http.response.status_code': 404,
            'url.scheme': 'http',
          },
          count: 1,
        },
      ]),
    );
    expect(await series(durations)).toHaveLength(4);
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
    expect(await series(durations)).toEqual([
      {
        attributes: {
          'http.request.method': 'POST',
          'http.response.status_code': 413,
          'url.scheme': 'http',
          'http.route': '/items',
        },
        count: 1,
      },
    ]);
    const small = await hono.request('/items', { method: 'POST', body: '{}' });
    expect(small.status).toBe(200);
    expect(ran()).toBe(1);
  });

  it('says Connection: close only while shutting down', async () => {
    expect((await app().hono.request('/items/a')).headers.get('connection')).toBeNull();
    const draining = await app({ shuttingDown: true }).hono.request('/items/a');
    expect(draining.headers.get('connection')).toBe('close');
  });

  it('records nothing without durations and still guards the body limit', async () => {
    const hono = new Hono();
    hono.use('*', requestFrame({ bodyLimitBytes: 1 }));
    hono.post('/x', (c) => c.text('ok'));
    const res = await hono.request('/x', {
      method: 'POST',
      headers: { 'content-length': '8' },
      body: 'too long',
    });
    expect(res.status).toBe(413);
  });
});
