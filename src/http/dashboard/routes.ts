import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { BreakerRegistry } from 'breakerbox';
import type { BreakerGroups } from '../breaker-groups.js';
import type { TransitionHistory } from './transition-history.js';
import type { BreakerTelemetry } from 'breakerbox';
import { DashboardFeed } from './data.js';
import { ICON_SVG, renderPage } from './page.js';

export interface DashboardDeps {
  registry: BreakerRegistry;
  history: TransitionHistory;
  telemetry: BreakerTelemetry;
  /** /health's dependency entries, so the page's severity agrees with /health. */
  dependencies?: () => Record<string, unknown>;
  /** Breakers grouped under a parent: shown in the parent's tile, not as tiles of their own. */
  groups?: BreakerGroups | undefined;
  /** How often the page polls the feed, ms (default 1000). */
  pollMs?: number;
  /** Monotonic ms for rates and windows (default performance.now); tests inject one. */
  clock?: { now(): number };
  /** Wall-clock ms (default Date.now). */
  wallClock?: () => number;
}

/**
 * The built-in live dashboard, mounted by the service at /dashboard:
 *
 * - `GET /`          the page (HTML, inline CSS and script under a nonce CSP, no external assets)
 * - `GET /data`      the JSON feed the page polls every second (see DashboardData)
 * - `GET /icon.svg`  its icon
 *
 * Polling rather than server-sent events: nothing stays open, so shutdown is never held up
 * by a dashboard tab, and the feed is plain JSON for scripts too.
 */
export function dashboardRoutes(deps: DashboardDeps): Hono {
  const app = new Hono();
  const feed = new DashboardFeed({
    registry: deps.registry,
    history: deps.history,
    telemetry: deps.telemetry,
    ...(deps.dependencies === undefined ? {} : { dependencies: deps.dependencies }),
    ...(deps.groups === undefined ? {} : { groups: deps.groups }),
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    ...(deps.wallClock === undefined ? {} : { wallClock: deps.wallClock }),
  });
  const pollMs = deps.pollMs ?? 1000;

  const page = (c: Context): Response => {
    // The page's own path, whatever the mount point: '/dashboard' or '/dashboard/'.
    const base = c.req.path.replace(/\/+$/, '');
    const root = base.slice(0, Math.max(0, base.lastIndexOf('/')));
    const nonce = randomBytes(16).toString('base64');
    c.header(
      'Content-Security-Policy',
      [
        "default-src 'none'",
        `script-src 'nonce-${nonce}'`,
        `style-src 'nonce-${nonce}'`,
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
    );
    c.header('Cache-Control', 'no-store');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(
      renderPage({
        nonce,
        dataUrl: `${base}/data`,
        iconUrl: `${base}/icon.svg`,
        healthUrl: `${root}/health`,
        pollMs,
      }),
    );
  };

  app.get('/', page);
  app.get('/data', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json(feed.read());
  });
  app.get('/icon.svg', (c) => {
    c.header('Content-Type', 'image/svg+xml; charset=utf-8');
    c.header('Cache-Control', 'public, max-age=86400');
    return c.body(ICON_SVG);
  });
  return app;
}
