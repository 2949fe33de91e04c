// The dashboard in a real browser (Debian's Chromium through playwright-core), against the real
// service as a child process, a private redis-server and a fault proxy in front of it.
// It scripts an outage, watches the tiles and the critical banner, checks the page never
// leaves the service, and takes the README's screenshots: into docs/screenshots/ with
// UPDATE_SCREENSHOTS=1 (so an ordinary test run leaves the work tree clean), else a temp dir.
// A second case serves the dashboard in process over the breakers of a 16-master Redis
// Cluster (the service's own ShardBreakers and roll-up on a slot map, no Redis): shard
// breakers are grouped in the redis_cache tile, not listed as 16 more tiles.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Hono } from 'hono';
import { BreakerTelemetry, CircuitBreaker, BreakerRegistry } from 'breakerbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/composition/http-server.js';
import { writeTestModel } from '../../src/dependencies/embeddings/test-model.js';
import { dashboardRoutes } from '../../src/http/dashboard/routes.js';
import { TransitionHistory } from '../../src/http/dashboard/transition-history.js';
import { healthRoutes } from '../../src/http/routes/health.js';
import { clusterBreakers } from '../support/cluster-breakers.js';
import {
  FaultProxy,
  RedisProcess,
  stopAllRedis,
  ROOT,
  ServiceProcess,
  stopAllServices,
} from '@breakerbox/devkit';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs/screenshots')
    : mkdtempSync(join(tmpdir(), 'breakerbox-screenshots-'));
const ADMIN_TOKEN = 'dashboard-test-admin-token-0123';

let redis: RedisProcess;
let proxy: FaultProxy;
let service: ServiceProcess;
let browser: Browser;
let page: Page;
let modelsDir: string;
let codeModel: string;
const requests: string[] = [];
const pageErrors: string[] = [];

/** Background load on loopback: cache reads/writes and embeddings of the chosen kinds. */
class Traffic {
  private readonly controller = new AbortController();
  private readonly done: Promise<unknown>;
  embeddingKinds: Array<'text' | 'code'> = ['text'];

  constructor(base: string, maxMs: number) {
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(maxMs)]);
    const send = async (path: string, init?: RequestInit): Promise<void> => {
      try {
        const res = await fetch(`${base}${path}`, {
          ...init,
          signal: AbortSignal.any([signal, AbortSignal.timeout(3_000)]),
        });
        await res.arrayBuffer();
      } catch {
        // counted by the service, not here
      }
    };
    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const cache = async (): Promise<void> => {
      for (let i = 0; !signal.aborted; i++) {
        if (i % 4 === 0) {
          await send(`/v1/cache/dash:${i % 16}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ value: i }),
          });
        } else await send(`/v1/cache/dash:${i % 16}`);
        await pause(50);
      }
    };
    const embeddings = async (): Promise<void> => {
      for (let i = 0; !signal.aborted; i++) {
        const kind = this.embeddingKinds[i % this.embeddingKinds.length]!;
        await send('/v1/embeddings', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: `request ${i % 7}`, kind }),
        });
        await pause(150);
      }
    };
    this.done = Promise.all([cache(), embeddings()]);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}

const tile = (name: string) => page.locator(`article[data-breaker="${name}"]`);

async function screenshot(file: string, on: Page = page): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await on.screenshot({ path: join(SCREENSHOTS, file), fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/main.js'))) {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  modelsDir = mkdtempSync(join(tmpdir(), 'breakerbox-dashboard-models-'));
  const textModel = join(modelsDir, 'breakerbox-mini-text');
  // The code model is written only when the test "restores" it: until then loads fail.
  codeModel = join(modelsDir, 'breakerbox-mini-code');
  await writeTestModel(textModel, { kind: 'text' });

  redis = await RedisProcess.start();
  proxy = await FaultProxy.start({ targetPort: redis.port });
  service = await ServiceProcess.start({
    REDIS_URL: `redis://127.0.0.1:${proxy.port}/0`,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '3',
    EMBEDDING_CIRCUIT_FAILURE_THRESHOLD: '3',
    EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT: '3',
    EMBEDDING_MODEL: textModel,
    CODE_EMBEDDING_MODEL: codeModel,
    MODELS_DIR: modelsDir,
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  page = await context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await stopAllServices();
  await proxy?.close();
  await stopAllRedis();
  if (modelsDir !== undefined) rmSync(modelsDir, { recursive: true, force: true });
});

describe('the dashboard in Chromium', () => {
  it('follows an outage and a recovery, with the critical banner, and never leaves the service', async () => {
    const traffic = new Traffic(service.baseUrl, 120_000);
    try {
      await page.goto(`${service.baseUrl}/dashboard`);
      await expect.poll(() => tile('redis_cache').getAttribute('data-state')).toBe('closed');
      await expect.poll(() => tile('embedding_service').getAttribute('data-state')).toBe('closed');
      expect(await tile('embedding_service').locator('.badge-critical').textContent()).toContain(
        'Critical',
      );
      // Healthy: a few seconds of traffic fill the rates.
      await expect
        .poll(() => tile('redis_cache').locator('.rate-success .num').textContent(), {
          timeout: 10_000,
        })
        .toMatch(/^[1-9]/);
      await page.waitForTimeout(4_000);
      expect(await page.locator('#critical-banner').count()).toBe(0);
      expect(await page.locator('#bb-summary').textContent()).toContain('Healthy');
      // The compact overview comes first: one row per breaker.
      const overviewRow = page.locator('#bb-overview-body tr[data-breaker="redis_cache"]');
      expect(await overviewRow.getAttribute('data-state')).toBe('closed');
      expect(await overviewRow.locator('td').nth(2).textContent()).toMatch(/\/s$/);
      expect(await page.locator('#bb-overview-body tr').count()).toBe(2);

      // Nobody watches for a while (longer than a sample may span): after the reload the
      // history is still there (kept server-side) and the unwatched span is drawn as a gap.
      await page.goto('about:blank');
      await new Promise((r) => setTimeout(r, 7_000));
      await page.goto(`${service.baseUrl}/dashboard`);
      const spark = tile('redis_cache').locator('.spark');
      await expect
        .poll(() => spark.locator('.gap').count(), { timeout: 10_000 })
        .toBeGreaterThan(0);
      // The line stops before the gap and starts again after it: two runs, not one joined line.
      expect(
        await spark.locator('polyline[data-outcome="success"]').count(),
      ).toBeGreaterThanOrEqual(2);
      // The y-axis covers every number beside the chart.
      const top = Number.parseFloat((await tile('redis_cache').locator('.y-top').textContent())!);
      const shown = await tile('redis_cache').locator('.rate .num').allTextContents();
      for (const value of shown) if (value !== '—') expect(Number(value)).toBeLessThanOrEqual(top);

      // Redis outage: the proxy swallows everything, commands time out, the breaker opens.
      await proxy.setMode('blackhole');
      await expect
        .poll(() => tile('redis_cache').getAttribute('data-state'), { timeout: 10_000 })
        .toBe('open');
      expect(await tile('redis_cache').locator('.state-label').textContent()).toBe('Open');

      // The code model is missing: code traffic fails its loads and the critical breaker opens
      // (only code traffic: the threshold counts consecutive failures).
      traffic.embeddingKinds = ['code'];
      await expect(
        page.locator('#critical-banner').waitFor({ state: 'visible', timeout: 15_000 }),
      ).resolves.toBeUndefined();
      expect(await page.locator('#critical-banner').textContent()).toContain('embedding_service');
      // The banner sits in an assertive live region; the state is spelled out, not only coloured.
      expect(await page.locator('#bb-alerts').getAttribute('aria-live')).toBe('assertive');
      expect(await tile('embedding_service').locator('.state-label').textContent()).toMatch(
        /^(Open|Half-open)$/,
      );
      expect(await page.title()).toMatch(/Critical circuit open/);
      // Severity agrees everywhere: /health/ready is 503, the banner is up, the header is red
      // "Critical", not amber "Degraded".
      expect((await service.fetch('/health/ready')).status).toBe(503);
      await expect
        .poll(() => page.locator('#bb-summary').getAttribute('data-health'))
        .toBe('critical');
      expect(await page.locator('#bb-summary').textContent()).toMatch(
        /^✕ Critical: .*embedding_service/,
      );
      // The last error, with its time, in the tile and in the overview.
      await expect
        .poll(() => tile('embedding_service').locator('.last-error-text').textContent())
        .toMatch(/could not be loaded.*\(\d\d:\d\d:\d\d, \d+ s ago\)/);
      expect(
        await page
          .locator('#bb-overview-body tr[data-breaker="redis_cache"] .ov-error')
          .textContent(),
      ).toMatch(/timed out|timeout|Connection|Stream/i);
      traffic.embeddingKinds = ['code', 'text'];

      // The outage screenshot: both tiles open and the banner up (retry if a probe was caught).
      for (let attempt = 0; attempt < 5; attempt++) {
        await page.waitForTimeout(1_200);
        const states = [
          await tile('redis_cache').getAttribute('data-state'),
          await tile('embedding_service').getAttribute('data-state'),
        ];
        if (
          states.every((s) => s === 'open') &&
          (await page.locator('#critical-banner').isVisible())
        )
          break;
      }
      await screenshot('dashboard-outage.png');
      expect(await tile('redis_cache').locator('.transitions li').count()).toBeGreaterThan(0);
      expect(await tile('embedding_service').locator('.compare').textContent()).toMatch(
        /rejected call answers in/i,
      );

      // Recovery: Redis forwards again and the model comes back; both close, the banner goes.
      await proxy.setMode('pass');
      await writeTestModel(codeModel, { kind: 'code' });
      await expect
        .poll(() => tile('redis_cache').getAttribute('data-state'), { timeout: 20_000 })
        .toBe('closed');
      await expect
        .poll(() => tile('embedding_service').getAttribute('data-state'), { timeout: 20_000 })
        .toBe('closed');
      await expect.poll(() => page.locator('#critical-banner').count(), { timeout: 5_000 }).toBe(0);
      const redisTransitions = await tile('redis_cache')
        .locator('.transitions li')
        .allTextContents();
      expect(redisTransitions.join('\n')).toMatch(/Half-open →\s+to ✓ Closed/);
      // Healthy again: the screenshot shows the recovered state with the outage in the timeline.
      // An operator disables the breaker and resets it: both show in its timeline.
      for (const action of ['disable', 'reset']) {
        const res = await service.fetch(`/admin/circuit-breakers/redis_cache/${action}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        expect(res.status).toBe(200);
      }
      await expect
        .poll(() => tile('redis_cache').locator('.transitions li.admin-action').count())
        .toBe(2);
      await page.waitForTimeout(6_000);
      expect(await page.locator('#bb-summary').textContent()).toContain('Healthy');
      await screenshot('dashboard-healthy.png');
    } finally {
      await traffic.stop();
    }

    // Narrow screen: one column, nothing wider than the viewport.
    await page.setViewportSize({ width: 360, height: 800 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);

    // Every request the page made went to the service itself.
    expect(requests.length).toBeGreaterThan(5);
    const origin = `${service.baseUrl}/`;
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 150_000);
});

describe('the dashboard in Chromium, with the shard breakers of a 16-master Redis Cluster', () => {
  it('groups the shards in the redis_cache tile: a strip of chips with counts, details on demand', async () => {
    const registry = new BreakerRegistry();
    const history = new TransitionHistory(registry, 200);
    const telemetry = new BreakerTelemetry({
      registry,
      summaryIntervalMs: 60_000,
      logger: { info: () => undefined, warn: () => undefined },
    });
    const cluster = clusterBreakers({ registry, masters: 16 });
    const embed = new CircuitBreaker({ name: 'embedding_service', registry, critical: true });
    const app = new Hono({ strict: false });
    app.route('/health', healthRoutes({ registry, groups: cluster.groups }));
    app.route(
      '/dashboard',
      dashboardRoutes({ registry, history, telemetry, groups: cluster.groups }),
    );
    const server = await listen(app, '127.0.0.1', 0);
    const base = `http://127.0.0.1:${server.port}`;
    // Two shards down (5120 and 11264); traffic on the others and on the embeddings.
    const shards = cluster.list();
    const down = [shards[5]!, shards[11]!];
    for (const b of down) cluster.trip(b);
    const traffic = setInterval(() => {
      for (const b of [...shards, embed]) void b.execute(async () => 1).catch(() => undefined);
    }, 50);
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
    const p = await context.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    const redisTile = p.locator('article[data-breaker="redis_cache"]');
    try {
      await p.goto(`${base}/dashboard`);
      await expect.poll(() => redisTile.locator('.chip').count()).toBe(16);
      // The overview and the tiles: two breakers, not eighteen.
      expect(await p.locator('#bb-overview-body tr').count()).toBe(2);
      expect(await p.locator('article.tile').count()).toBe(2);
      expect(await p.locator('article[data-breaker="redis_cache:5120"]').count()).toBe(0);
      // The parent shows the roll-up (closed: most shards serve) and counts its shards.
      expect(await redisTile.getAttribute('data-state')).toBe('closed');
      expect(await redisTile.locator('.chip[data-state="open"]').count()).toBe(2);
      expect(
        await redisTile.locator('.chip[data-state="open"] .chip-id').allTextContents(),
      ).toEqual(['5120', '11264']);
      const counts = await p
        .locator('#bb-overview-body tr[data-breaker="redis_cache"] .ov-shards')
        .textContent();
      expect(counts).toMatch(/^16 shards: ✓ 14 ✕ 2$/);
      // Its row shows the shards' traffic (the parent guards no call itself): 2 of 16 reject.
      const row = p.locator('#bb-overview-body tr[data-breaker="redis_cache"]');
      await expect.poll(() => row.locator('td').nth(2).textContent()).toMatch(/^[1-9][\d.]*\/s$/);
      const share = Number.parseFloat((await row.locator('.ov-rejected').textContent())!);
      expect(share).toBeGreaterThan(5);
      expect(share).toBeLessThan(20);
      await expect
        .poll(() => redisTile.locator('.shard-summary').textContent())
        .toMatch(
          /16 shards: ✓ 14 ✕ 2 · [\d.]+ calls\/s across shards · not closed: redis_cache:5120, redis_cache:11264/,
        );
      expect(await p.locator('#bb-summary').textContent()).toBe(
        '⚠ Degraded: redis_cache: 2 of 16 shards not closed',
      );
      // Compact: 16 chips fit on one or two lines of the tile.
      const strip = await redisTile.locator('.shard-chips').boundingBox();
      expect(strip!.height).toBeLessThan(70);

      // Per-shard details on demand, and they stay open across updates.
      const details = redisTile.locator('details.shard-details');
      expect(await details.getAttribute('open')).toBeNull();
      await details.locator('summary').click();
      const rows = redisTile.locator('.shard-table tbody tr');
      await expect.poll(() => rows.count()).toBe(16);
      expect(await rows.nth(5).getAttribute('data-state')).toBe('open');
      expect(await rows.nth(5).textContent()).toContain('10.0.0.6:6379');
      await p.waitForTimeout(2_500);
      expect(await details.getAttribute('open')).not.toBeNull();
      expect(await rows.nth(0).locator('td').nth(4).textContent()).toMatch(/\/s$/);
      await screenshot('dashboard-cluster.png', p);

      // A recovered shard: the chip turns closed and the counts follow.
      down[0]!.reset();
      await expect
        .poll(() => redisTile.locator('.chip[data-state="open"]').count(), { timeout: 5_000 })
        .toBe(1);
      expect(await redisTile.locator('[data-role="shard-counts"]').first().textContent()).toBe(
        '16 shards: ✓ 15 ✕ 1',
      );

      // Every shard open: the cache as a whole is open, and its timeline says why (the
      // roll-up of its shards, not an operator).
      for (const b of shards) cluster.trip(b);
      await expect
        .poll(() => redisTile.getAttribute('data-state'), { timeout: 5_000 })
        .toBe('open');
      expect(await redisTile.locator('.state-label').textContent()).toBe('Open');
      await expect
        .poll(() => redisTile.locator('.transitions').textContent())
        .toContain('no shard closed (roll-up)');
      expect(await p.locator('#bb-summary').textContent()).toBe('⚠ Degraded: redis_cache open');

      // Narrow screen: nothing wider than the viewport (the table scrolls inside its box).
      await p.setViewportSize({ width: 360, height: 800 });
      await p.waitForTimeout(300);
      const overflow = await p.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      expect(errors).toEqual([]);
    } finally {
      clearInterval(traffic);
      await context.close();
      await server.close(1_000);
      cluster.dispose();
      embed.dispose();
      history.dispose();
      telemetry.dispose();
    }
  }, 60_000);
});
