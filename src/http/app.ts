import type { Tracer } from '@opentelemetry/api';
import { Hono, type ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { BreakerRegistry } from 'breakerbox';
import type { CascadeCache } from '../dependencies/cache/cascade-cache.js';
import type { EmbeddingService } from '../dependencies/embeddings/embedding-service.js';
import { payloadTooLargeResponse } from './body.js';
import type { BreakerGroups } from './breaker-groups.js';
import { errorResponse, HttpError } from './errors.js';
import type { HttpServerDurations } from '../otel/http-server-durations.js';
import { RequestFrame } from './middleware/request-frame.js';
import { tracing } from './middleware/tracing.js';
import { adminRoutes } from './routes/admin.js';
import { cacheRoutes } from './routes/cache.js';
import { circuitBreakerRoutes } from './routes/circuit-breakers.js';
import { embeddingRoutes } from './routes/embeddings.js';
import { healthRoutes } from './routes/health.js';

export interface AppLogger {
  error(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface AppDeps {
  registry: BreakerRegistry;
  cache: CascadeCache;
  embeddings: EmbeddingService;
  tracer: Tracer;
  /** Server spans per request (default true). Off: no span work at all on the request path. */
  tracing?: boolean;
  /** Where `http.server.request.duration` is recorded (unset: not recorded). */
  httpDurations?: HttpServerDurations;
  logger: AppLogger;
  redisBreakerName: string;
  bodyLimitBytes: number;
  /** While true, responses carry `Connection: close` so keep-alive connections drain. */
  isShuttingDown?: () => boolean;
  /** Unset: the whole /admin tree is 404. */
  adminToken?: string | undefined;
  /** Called after each admin action (besides the log line), e.g. for the dashboard timeline. */
  onAdminAction?: (breaker: string, action: string) => void;
  /** Extra, credential-free dependency facts for /health. */
  dependencies?: () => Record<string, unknown>;
  /** Breakers grouped under a parent (a cluster's shard breakers under `redis_cache`). */
  breakerGroups?: BreakerGroups | undefined;
  /** Extra routers, e.g. the built-in dashboard, mounted at their paths. */
  extraRoutes?: Array<{ path: string; app: Hono; methods: string[] }>;
}

/** Routes and the methods they accept, for 405 answers with an `Allow` header. */
const KNOWN_ROUTES: Array<{ pattern: RegExp; methods: string[] }> = [
  { pattern: /^\/health(\/live|\/ready)?\/?$/, methods: ['GET'] },
  { pattern: /^\/v1\/cache\/[^/]+$/, methods: ['GET', 'PUT', 'DELETE'] },
  { pattern: /^\/v1\/embeddings\/?$/, methods: ['POST'] },
  { pattern: /^\/v1\/circuit-breakers(\/[^/]+)?\/?$/, methods: ['GET'] },
];

/** The HTTP layer: small routers composed under one app, JSON errors everywhere. */
export function createApp(deps: AppDeps): Hono {
  // Not strict: `/dashboard/` and `/health/` answer like `/dashboard` and `/health`.
  const app = new Hono({ strict: false });
  const known = [...KNOWN_ROUTES];

  const onError: ErrorHandler = (error, c) => {
    if (error instanceof HttpError && error.status === 413)
      return payloadTooLargeResponse(c, error.message);
    if (error instanceof HttpError)
      return errorResponse(c, error.status, error.code, error.message, error.extra);
    if (error instanceof HTTPException && error.status < 500) {
      return errorResponse(c, error.status, 'bad_request', error.message || 'bad request');
    }
    // An unexpected error: logged with its stack, answered without it.
    deps.logger.error(
      { err: error, path: c.req.path, method: c.req.method },
      'unhandled error in request',
    );
    return errorResponse(c, 500, 'internal_error', 'internal error');
  };

  const frame = new RequestFrame({
    bodyLimitBytes: deps.bodyLimitBytes,
    durations: deps.httpDurations,
    isShuttingDown: deps.isShuttingDown,
    onError,
  });
  const mount = (path: string, router: Hono): void => frame.mount(app, path, router);
  // Server spans (when on) enclose everything else, the request frame included.
  if (deps.tracing !== false) app.use('*', tracing(deps.tracer));

  mount(
    '/health',
    healthRoutes({
      registry: deps.registry,
      dependencies: deps.dependencies,
      groups: deps.breakerGroups,
    }),
  );
  mount(
    '/v1/cache',
    cacheRoutes(deps.cache, deps.redisBreakerName, { bodyLimitBytes: deps.bodyLimitBytes }),
  );
  mount(
    '/v1/embeddings',
    embeddingRoutes(deps.embeddings, { bodyLimitBytes: deps.bodyLimitBytes }),
  );
  mount('/v1/circuit-breakers', circuitBreakerRoutes(deps.registry, deps.breakerGroups));
  if (deps.adminToken !== undefined) {
    mount(
      '/admin',
      adminRoutes({
        registry: deps.registry,
        token: deps.adminToken,
        onAction: (breaker, action) => {
          deps.logger.info(
            { event: 'admin_action', breaker, action },
            `admin: ${action} ${breaker}`,
          );
          deps.onAdminAction?.(breaker, action);
        },
      }),
    );
  }
  for (const extra of deps.extraRoutes ?? []) {
    mount(extra.path, extra.app);
    known.push({ pattern: new RegExp(`^${extra.path}(/.*)?$`), methods: extra.methods });
  }

  app.notFound(
    frame.wrapNotFound((c) => {
      const route = known.find((r) => r.pattern.test(c.req.path));
      if (route !== undefined && !route.methods.includes(c.req.method)) {
        c.header('Allow', route.methods.join(', '));
        return errorResponse(
          c,
          405,
          'method_not_allowed',
          `${c.req.method} is not allowed here; use ${route.methods.join(', ')}`,
        );
      }
      return errorResponse(
        c,
        404,
        'not_found',
        `no route for ${c.req.method} ${c.req.path.slice(0, 200)}`,
      );
    }),
  );

  app.onError(onError);

  return app;
}
