// The dashboard's routes in process: the page shell and the JSON feed, on a fake clock.
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BreakerRegistry,
  CircuitBreaker,
  DURATION_BOUNDARIES_SECONDS,
  FakeClock,
} from 'breakerbox';
import { histogramDelta, type DashboardData } from '../../src/http/dashboard/data.js';
import { dashboardRoutes } from '../../src/http/dashboard/routes.js';
import { clientScript } from '../../src/http/dashboard/client-bundle.js';
import { TransitionHistory } from '../../src/http/dashboard/transition-history.js';
import { BreakerTelemetry } from 'breakerbox';
import { clusterBreakers } from '../support/cluster-breakers.js';

const boom = (): never => {
  throw new Error('boom');
};

function setup() {
  const clock = new FakeClock(10_000);
  let wall = Date.parse('2030-01-01T00:00:00Z');
  const registry = new BreakerRegistry();
  const history = new TransitionHistory(registry, 200);
  const lines: string[] = [];
  const telemetry = new BreakerTelemetry({
    registry,
    clock,
    summaryIntervalMs: 60_000,
    logger: { info: (_f, m) => lines.push(m), warn: (_f, m) => lines.push(m) },
  });
  const common = { clock, scheduler: clock, registry, wallClock: () => wall };
  const redis = new CircuitBreaker({
    name: 'redis_cache',
    failureThreshold: 3,
    recoveryTimeout: 5_000,
    ...common,
  });
  const embed = new CircuitBreaker({
    name: 'embedding_service',
    failureThreshold: 2,
    recoveryTimeout: 8_000,
    critical: true,
    ...common,
  });
  const app = new Hono();
  app.route(
    '/dashboard',
    dashboardRoutes({ registry, history, telemetry, clock, wallClock: () => wall }),
  );
  const advance = (ms: number): void => {
    clock.advance(ms);
    wall += ms;
  };
  const data = async (): Promise<DashboardData> => {
    const res = await app.request('/dashboard/data');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return (await res.json()) as DashboardData;
  };
  const dispose = (): void => {
    history.dispose();
    telemetry.dispose();
    redis.dispose();
    embed.dispose();
  };
  return { app, clock, redis, embed, advance, data, dispose, lines, registry, history, telemetry };
}

let current: ReturnType<typeof setup> | undefined;
afterEach(() => {
  current?.dispose();
  current = undefined;
});

describe('GET /dashboard', () => {
  it('serves one self-contained page under a strict nonce CSP', async () => {
    current = setup();
    const res = await current.app.request('/dashboard');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    // No external asset: every src/href is a path on this service or an in-page anchor.
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).toMatch(/^(\/|#)/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain(`<style nonce="${nonce}">`);
    expect(html).toContain('"dataUrl":"/dashboard/data"');
    // Landmarks and the live region for the critical banner.
    expect(html).toMatch(/<main id="bb-main"/);
    expect(html).toMatch(/<header class="page-head">/);
    expect(html).toMatch(/id="bb-alerts"[^>]*aria-live="assertive"/);
    expect(html).toContain('<meta name="viewport"');

    // A fresh nonce each time.
    const again = await current.app.request('/dashboard');
    expect(again.headers.get('content-security-policy')).not.toBe(csp);
  });

  it('ships the compiled TypeScript client, a script that parses', () => {
    const CLIENT_SCRIPT = clientScript();
    expect(CLIENT_SCRIPT).not.toContain('is not built');
    expect(CLIENT_SCRIPT).toContain('bb-overview-body');
    expect(() => new Function(CLIENT_SCRIPT)).not.toThrow();
    expect(CLIENT_SCRIPT).not.toContain('innerHTML');
    expect(CLIENT_SCRIPT).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('serves its icon', async () => {
    current = setup();
    const res = await current.app.request('/dashboard/icon.svg');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await res.text()).toMatch(/^<svg/);
  });

  it('derives its URLs from the path it is mounted at', async () => {
    current = setup();
    const html = await (await current.app.request('/dashboard')).text();
    expect(html).toContain('href="/dashboard/icon.svg"');
    expect(html).toContain('href="/health"');
    const nested = new Hono();
    nested.route(
      '/ops/breakers',
      dashboardRoutes({
        registry: current.registry,
        history: current.history,
        telemetry: current.telemetry,
      }),
    );
    const other = await (await nested.request('/ops/breakers')).text();
    expect(other).toContain('"dataUrl":"/ops/breakers/data"');
    expect(other).toContain('href="/ops/health"');
  });
});

describe('GET /dashboard/data', () => {
  it('reports state, criticality, transitions, rates, latency and log noise', async () => {
    current = setup();
    const t = current;
    const first = await t.data();
    expect(first.breakers.map((b) => b.name)).toEqual(['redis_cache', 'embedding_service']);
    expect(first.critical_open).toEqual([]);
    expect(first.transitions).toEqual([]);
    const redis0 = first.breakers[0]!;
    expect(redis0).toMatchObject({ state: 'closed', mode: 'normal', critical: false });
    expect(redis0.rates.current).toBeNull();
    expect(redis0.latency.basis).toBe('lifetime');
    expect(redis0.log.noise_reduction).toBeNull();

    // Successful calls, each taking 10 ms on the fake clock.
    for (let i = 0; i < 10; i++) {
      await t.redis.execute(() => t.advance(10));
    }
    t.advance(900);
    // Three failures open redis_cache; rejections follow.
    for (let i = 0; i < 3; i++) await t.redis.execute(boom).catch(() => undefined);
    for (let i = 0; i < 20; i++) await t.redis.execute(() => 1).catch(() => undefined);
    // The critical breaker opens too.
    for (let i = 0; i < 2; i++) await t.embed.execute(boom).catch(() => undefined);
    t.advance(1_000);

    const second = await t.data();
    expect(second.critical_open).toEqual(['embedding_service']);
    const redis = second.breakers.find((b) => b.name === 'redis_cache')!;
    expect(redis.state).toBe('open');
    expect(redis.retry_after_seconds).toBeCloseTo(4, 1);
    expect(redis.calls).toMatchObject({ success: 10, failure: 3, rejected: 20 });
    expect(redis.rates.seconds).toBeCloseTo(2, 1);
    expect(redis.rates.current).toMatchObject({ success: 5, failure: 1.5, rejected: 10 });
    expect(redis.rates.series).toHaveLength(1);
    // Less than a whole window watched: latency is from the lifetime histograms.
    expect(redis.latency.basis).toBe('lifetime');
    expect(redis.latency.seconds).toBeNull();
    expect(redis.latency.window.success.count).toBe(10);
    expect(redis.latency.window.success.p50).toBeGreaterThan(0.005);
    expect(redis.latency.window.success.p50).toBeLessThanOrEqual(0.01);
    expect(redis.latency.window.rejected.count).toBe(20);
    expect(redis.latency.window.rejected.p99).toBeLessThan(0.000002);
    // 1 state-change line emitted, 3 failures + 20 rejections suppressed.
    expect(redis.log).toEqual({ emitted: 1, suppressed: 23, noise_reduction: 23 / 24 });
    expect(second.transitions.map((r) => [r.breaker, r.from, r.to, r.reason])).toEqual([
      ['redis_cache', 'closed', 'open', 'failure_threshold'],
      ['embedding_service', 'closed', 'open', 'failure_threshold'],
    ]);

    // A poll too soon after the last one is answered but not sampled.
    t.advance(100);
    const soon = await t.data();
    expect(soon.breakers[0]!.rates.series).toHaveLength(1);

    // Recovery: half-open, a probe succeeds, closed.
    t.advance(4_000);
    await t.redis.execute(() => 'ok');
    const third = await t.data();
    const closed = third.breakers.find((b) => b.name === 'redis_cache')!;
    expect(closed.state).toBe('closed');
    expect(third.transitions.filter((r) => r.breaker === 'redis_cache').map((r) => r.to)).toEqual([
      'open',
      'half_open',
      'closed',
    ]);
    expect(closed.rates.series).toHaveLength(2);
    expect(closed.rates.series[1]!.rejected).toBe(0);

    // Past the latency window, old calls leave the window but stay in the lifetime figures.
    t.advance(61_000);
    await t.data();
    t.advance(1_000);
    const later = (await t.data()).breakers.find((b) => b.name === 'redis_cache')!;
    expect(later.latency.window.rejected.count).toBe(0);
    expect(later.latency.window.rejected.p50).toBeNull();
    expect(later.latency.lifetime.rejected.count).toBe(20);
    expect(later.latency.basis).toBe('window');
    expect(later.latency.seconds).toBeGreaterThanOrEqual(60);
    expect(later.latency.seconds).toBeLessThanOrEqual(63);
    expect(later.latency.window.success.count).toBe(0);
    expect(later.latency.lifetime.success.count).toBe(11);
    // The minute nobody polled is a gap in the series, not a point averaged over it.
    expect(later.rates.series).toHaveLength(3);

    // Calls inside the window are what the windowed percentiles show.
    for (let i = 0; i < 4; i++) await t.redis.execute(() => t.advance(20));
    t.advance(1_000);
    const recent = (await t.data()).breakers.find((b) => b.name === 'redis_cache')!;
    expect(recent.latency.window.success.count).toBe(4);
    expect(recent.latency.window.success.p50).toBeGreaterThan(0.01);
    expect(recent.latency.window.success.p50).toBeLessThanOrEqual(0.025);
    expect(recent.latency.lifetime.success.count).toBe(15);
  });

  it('shows isolation and a breaker added later', async () => {
    current = setup();
    const t = current;
    t.embed.isolate();
    const data = await t.data();
    const embed = data.breakers.find((b) => b.name === 'embedding_service')!;
    expect(embed).toMatchObject({ state: 'open', mode: 'isolated', retry_after_seconds: null });
    expect(data.critical_open).toEqual(['embedding_service']);

    // A breaker registered after the feed started shows up, its rates start from its own samples.
    t.advance(1_000);
    const late = new CircuitBreaker({ name: 'late', registry: t.registry, clock: t.clock });
    try {
      await late.execute(() => 1);
      const next = await t.data();
      const view = next.breakers.find((b) => b.name === 'late')!;
      expect(view).toMatchObject({ state: 'closed', critical: false, calls: { success: 1 } });
      expect(view.rates.current).toBeNull();
      expect(view.rates.series).toEqual([]);
    } finally {
      late.dispose();
    }
    t.advance(1_000);
    expect((await t.data()).breakers.map((b) => b.name)).not.toContain('late');
  });
});

describe('GET /dashboard/data with shard breakers (a Redis Cluster)', () => {
  it('names each shard breaker as a child of redis_cache, without series; the parent counts them', async () => {
    const clock = new FakeClock(10_000);
    let wall = Date.parse('2030-01-01T00:00:00Z');
    const registry = new BreakerRegistry();
    const history = new TransitionHistory(registry, 200);
    const telemetry = new BreakerTelemetry({
      registry,
      clock,
      summaryIntervalMs: 60_000,
      logger: { info: () => undefined, warn: () => undefined },
    });
    const cluster = clusterBreakers({ registry, masters: 16, clock });
    const app = new Hono();
    app.route(
      '/dashboard',
      dashboardRoutes({
        registry,
        history,
        telemetry,
        clock,
        wallClock: () => wall,
        groups: cluster.groups,
      }),
    );
    const data = async (): Promise<DashboardData> =>
      (await (await app.request('/dashboard/data')).json()) as DashboardData;
    try {
      const shards = cluster.list();
      cluster.trip(shards[3]!);
      for (let round = 0; round < 3; round++) {
        for (const b of shards) if (b !== shards[3]) await b.execute(() => 1);
        await data();
        clock.advance(1_000);
        wall += 1_000;
      }
      const feed = await data();
      expect(feed.severity).toBe('degraded');
      const parent = feed.breakers.find((b) => b.name === 'redis_cache')!;
      expect(parent.parent).toBeUndefined();
      expect(parent.shards).toMatchObject({
        total: 16,
        closed: 15,
        open: 1,
        half_open: 0,
        not_closed: ['redis_cache:3072'],
        state: 'closed',
      });
      const children = feed.breakers.filter((b) => b.parent === 'redis_cache');
      expect(children).toHaveLength(16);
      expect(children.find((c) => c.shard === 3072)).toMatchObject({
        name: 'redis_cache:3072',
        state: 'open',
        master: '10.0.0.4:6379',
        slots: 1024,
      });
      for (const c of children) {
        expect(c.rates.series).toEqual([]); // chips and a table row: no chart per shard
        expect(c.rates.current).not.toBeNull();
      }
      expect(parent.rates.series.length).toBeGreaterThan(0);
    } finally {
      cluster.dispose();
      history.dispose();
      telemetry.dispose();
    }
  });
});

describe('histogramDelta', () => {
  it('subtracts bucket by bucket', () => {
    const n = DURATION_BOUNDARIES_SECONDS.length + 1;
    const base = {
      boundaries: DURATION_BOUNDARIES_SECONDS,
      counts: Array<number>(n).fill(1),
      count: n,
      sum: 1,
      min: 0.1,
      max: 2,
    };
    const now = { ...base, counts: Array<number>(n).fill(3), count: 3 * n, sum: 4 };
    const d = histogramDelta(now, base);
    expect(d.counts.every((c) => c === 2)).toBe(true);
    expect(d.count).toBe(2 * n);
    expect(d.sum).toBe(3);
    expect(d.max).toBe(2);
  });
});
