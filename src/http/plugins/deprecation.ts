// Tells clients of a replaced operation that it is going away, from what the contract says:
// every operation marked `deprecated: true` answers with `Deprecation` (RFC 9745, the date it
// was deprecated), `Sunset` (RFC 8594, the date after which it may stop working) and
// `Link: <…>; rel="successor-version"` (the same resource in the next version). The dates and
// the successor are the path item's `x-successor-version`; the headers go on the responses
// whose declaration in the contract lists `Deprecation`, so the contract stays exact.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { operationsOf, resolveRef } from '../conventions.ts';
import { addRouteHook } from '../route-hooks.ts';
import type { OpenApiDocument } from '../spec.ts';

export interface SuccessorVersion {
  /** The successor's path, with the same `{parameters}`, e.g. `/v2/posts/{postId}`. */
  path: string;
  /** `YYYY-MM-DD`: when the operation was deprecated. */
  deprecated: string;
  /** `YYYY-MM-DD`: after this day the operation may stop answering. */
  sunset: string;
}

interface Deprecated {
  deprecation: string;
  sunset: string;
  successor: string;
  statuses: Set<number>;
}

function day(value: unknown, where: string): Date {
  const date = new Date(`${String(value)}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(String(value)) || Number.isNaN(date.getTime())) {
    throw new Error(`${where}: x-successor-version needs dates as YYYY-MM-DD, got ${String(value)}`);
  }
  return date;
}

/** Route (`GET /v1/posts/:postId`) → the headers its deprecation calls for. Throws on a gap. */
export function deprecatedRoutes(document: OpenApiDocument, prefix: string): Map<string, Deprecated> {
  const routes = new Map<string, Deprecated>();
  for (const { method, path, operationId, operation } of operationsOf(document)) {
    if (operation.deprecated !== true) continue;
    const where = `${method.toUpperCase()} ${path} (${operationId})`;
    const successor = (document.paths[path] as { 'x-successor-version'?: SuccessorVersion })['x-successor-version'];
    if (!successor?.path) throw new Error(`${where} is deprecated: its path item needs x-successor-version (path, deprecated, sunset)`);
    const statuses = new Set<number>();
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (resolveRef(document, response).headers?.Deprecation) statuses.add(Number(status));
    }
    if (statuses.size === 0) throw new Error(`${where} is deprecated: declare the Deprecation, Sunset and Link headers on its success responses`);
    const entry: Deprecated = {
      deprecation: `@${day(successor.deprecated, where).getTime() / 1000}`,
      sunset: day(successor.sunset, where).toUTCString(),
      successor: successor.path,
      statuses,
    };
    const route = `${prefix}${path.replace(/\{([^}]+)\}/g, ':$1')}`;
    routes.set(`${method.toUpperCase()} ${route}`, entry);
    if (method === 'get') routes.set(`HEAD ${route}`, entry);
  }
  return routes;
}

/**
 * The Link header's builder for a successor path template (`/v2/posts/{postId}`), split once into
 * its literal parts and parameter names: `<path>; rel="successor-version"`, the request's path
 * parameters encoded into it.
 */
export function successorLink(template: string): (params: Record<string, string | undefined>) => string {
  const parts = template.split(/\{([^}]+)\}/); // literal, name, literal, name, …, literal
  return (params) => {
    let path = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) path += encodeURIComponent(params[parts[i]!] ?? '') + parts[i + 1]!;
    return `<${path}>; rel="successor-version"`;
  };
}

/**
 * Registered before the routes: each deprecated route gets its own onSend hook (the others pay
 * nothing), which runs after the instance's onSend hooks, as the global hook it replaces did.
 */
export const deprecation = fp(async (app: FastifyInstance, options: { document: OpenApiDocument; prefix: string }) => {
  const routes = deprecatedRoutes(options.document, options.prefix);
  if (routes.size === 0) return;
  app.addHook('onRoute', (route: RouteOptions) => {
    for (const method of [route.method].flat()) {
      const found = routes.get(`${method} ${route.url}`);
      if (!found) continue;
      const link = successorLink(found.successor);
      const headers = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
        if (request.method === method && found.statuses.has(reply.statusCode)) {
          reply.header('deprecation', found.deprecation);
          reply.header('sunset', found.sunset);
          reply.header('link', link((request.params ?? {}) as Record<string, string | undefined>));
        }
        done(null, payload);
      };
      addRouteHook(route, 'onSend', headers, 'last');
    }
  });
});
