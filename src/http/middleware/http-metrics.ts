import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/**
 * The route TEMPLATE that answered (`/v1/cache/:key`), never the raw path: the last matched
 * route that is not a middleware. Empty when nothing matched (a 404 from notFound).
 */
export function routeTemplate(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return '';
}

/** The method as `http.request.method` reports it: one of the known ones, else `_OTHER`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}
