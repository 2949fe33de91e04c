import type {
  Context,
  ErrorHandler,
  Handler,
  Hono,
  MiddlewareHandler,
  Next,
  NotFoundHandler,
} from 'hono';
import { mergePath } from 'hono/utils/url';
import type { HttpServerDurations } from '../../otel/http-server-durations.js';
import { declaredLength, payloadTooLargeResponse, tooLarge } from '../body.js';
import { methodLabel, routeTemplate } from './http-metrics.js';

const NO_NEXT: Next = () => Promise.resolve();

export interface RequestFrameOptions {
  /** A declared body (Content-Length) over this is refused with 413 before the route runs. */
  bodyLimitBytes: number;
  /** Where `http.server.request.duration` is recorded (unset: not recorded). */
  durations?: HttpServerDurations | undefined;
  /** While true, responses carry `Connection: close` so keep-alive connections drain. */
  isShuttingDown?: (() => boolean) | undefined;
  /** Renders what a wrapped handler throws (the app's `onError`: one error path). */
  onError: ErrorHandler;
}

/**
 * What every request goes through:
 *
 * - `http.server.request.duration`: two clock reads and one record;
 * - a declared body over the limit is refused before the route runs (routes that read a body
 *   also count what arrives; see body.ts): only headers are read, no web Request, no
 *   AbortSignal per request (the 413 closes the connection anyway);
 * - while shutting down, responses say `Connection: close`.
 *
 * It wraps each route's handler rather than running as a middleware: a Hono route with one
 * handler is called directly, while a middleware in front of it makes Hono compose the two
 * (a compose closure, an async frame per layer and their promises: about 2 KB of garbage per
 * request under load, docs/BENCHMARKS.md round 4). `middleware()` is the same frame for a
 * router that brings its own middleware (the frame must run before it).
 */
export class RequestFrame {
  private readonly limit: number;
  private readonly durations: HttpServerDurations | undefined;
  private readonly isShuttingDown: (() => boolean) | undefined;
  private readonly onError: ErrorHandler;
  /** Requests inside `middleware()`: the not-found handler must not frame (count) them again. */
  private readonly framed = new WeakSet<Context>();

  constructor(options: RequestFrameOptions) {
    this.limit = options.bodyLimitBytes;
    this.durations = options.durations;
    this.isShuttingDown = options.isShuttingDown;
    this.onError = options.onError;
  }

  /**
   * Mounts `router` under `path` like `app.route`, inside the frame: each of its routes gets
   * its handler wrapped (a request runs one handler), unless the router has middleware of its
   * own, which the frame must precede: then the frame runs as a middleware on its tree.
   * Errors go to the frame's `onError` (the app's), not to an `onError` of the router.
   */
  mount(app: Hono, path: string, router: Hono): void {
    if (router.routes.some((r) => r.method === 'ALL')) {
      app.use(mergePath(path, '*'), this.middleware());
      app.route(path, router);
      return;
    }
    for (const r of router.routes) {
      const template = mergePath(path, r.path);
      app.on(r.method, template, this.wrap(template, r.handler as Handler));
    }
  }

  /** `handler` inside the frame; `template` is its route ('' for the not-found handler). */
  wrap(template: string, handler: Handler): Handler {
    return (c, next) => {
      const start = performance.now();
      const refused = this.refuse(c);
      if (refused !== undefined) return this.finish(c, template, start, refused);
      let result: ReturnType<Handler>;
      try {
        result = handler(c, next);
      } catch (error) {
        return this.failed(c, template, start, error);
      }
      if (result instanceof Promise) {
        return result.then(
          (response: Response | void) => this.finish(c, template, start, response),
          (error: unknown) => this.failed(c, template, start, error),
        );
      }
      return this.finish(c, template, start, result as Response | void);
    };
  }

  /**
   * The not-found handler (404s and 405s) inside the frame, timed from its own start; as it is
   * for a request the frame's middleware already encloses (an unknown path under `/admin`).
   */
  wrapNotFound(handler: NotFoundHandler): NotFoundHandler {
    const wrapped = this.wrap('', handler);
    return (c) =>
      this.framed.has(c) ? handler(c) : (wrapped(c, NO_NEXT) as Response | Promise<Response>);
  }

  /** The frame as a middleware (the route template is looked up after the fact). */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      const refused = this.refuse(c);
      if (refused !== undefined) return this.finish(c, routeTemplate(c), start, refused);
      this.framed.add(c);
      await next();
      const answer = this.finish(c, routeTemplate(c), start, c.res);
      if (answer !== c.res) c.res = answer;
    };
  }

  /** A 413 when a declared body is over the limit; undefined to go on. */
  private refuse(c: Context): Response | undefined {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return undefined;
    if ((declaredLength(c) ?? 0) <= this.limit) return undefined;
    return payloadTooLargeResponse(c, tooLarge(this.limit).message);
  }

  private failed(c: Context, template: string, start: number, error: unknown) {
    if (!(error instanceof Error)) throw error;
    const response = this.onError(error, c);
    return response instanceof Promise
      ? response.then((r) => this.finish(c, template, start, r))
      : this.finish(c, template, start, response);
  }

  /** Records the answer (a handler that answered nothing leaves it to Hono, unrecorded). */
  private finish<R extends Response | void>(
    c: Context,
    template: string,
    start: number,
    response: R,
  ): R {
    if (response === undefined) return response;
    const answer = this.isShuttingDown?.() === true ? drained(response as Response) : response;
    this.durations?.record(
      template,
      methodLabel(c.req.method),
      (answer as Response).status,
      (performance.now() - start) / 1000,
    );
    return answer as R;
  }
}

/** A copy saying `Connection: close` (a response's own headers may be immutable). */
function drained(response: Response): Response {
  const copy = new Response(response.body, response);
  copy.headers.set('Connection', 'close');
  return copy;
}
