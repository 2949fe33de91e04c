import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { BreakerRegistry, CircuitBreaker } from 'breakerbox';
import { breakerOr404, HttpError } from '../errors.js';

const ACTIONS = {
  reset: (b: CircuitBreaker) => b.reset(),
  open: (b: CircuitBreaker) => b.isolate(),
  disable: (b: CircuitBreaker) => b.disable(),
} as const;
type Action = keyof typeof ACTIONS;

export interface AdminDeps {
  registry: BreakerRegistry;
  token: string;
  onAction?: (breaker: string, action: Action) => void;
}

/** Compares in constant time: both sides are hashed to one length first. */
function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Manual control: reset, force open (isolate), disable. Mounted only when ADMIN_TOKEN is
 * set; otherwise the whole /admin tree answers 404 like any unknown route.
 */
export function adminRoutes({ registry, token, onAction }: AdminDeps): Hono {
  const app = new Hono();

  app.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match === null || !tokenMatches(match[1]!, token)) {
      c.header('WWW-Authenticate', 'Bearer realm="breakerbox-admin"');
      throw new HttpError(
        401,
        'unauthorized',
        'a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
      );
    }
    await next();
  });

  app.post('/circuit-breakers/:name/:action', (c) => {
    const name = c.req.param('name');
    const action = c.req.param('action');
    if (!Object.hasOwn(ACTIONS, action)) {
      throw new HttpError(
        404,
        'unknown_action',
        `unknown action ${JSON.stringify(action.slice(0, 50))}; use reset, open or disable`,
      );
    }
    const breaker = breakerOr404(registry, name);
    ACTIONS[action as Action](breaker);
    onAction?.(name, action as Action);
    return c.json({
      name,
      action,
      state: breaker.state,
      mode: breaker.mode,
      circuit_breaker: breaker.metrics(),
    });
  });

  return app;
}
