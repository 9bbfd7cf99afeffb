// Cache-Control on every response, so that no cache keeps what one caller may see for another.
// A response to a request with credentials (which may hold personal data: an email, a private
// channel) is `private, no-store`: neither a shared cache nor the browser keeps it. An anonymous
// GET (or HEAD) that succeeds is public data with an ETag: any cache may keep it but must
// revalidate it (`no-cache`), and `Vary: Authorization` stops a cache from answering a signed-in
// request with it. Everything else anonymous (writes, problems) is `no-store`. A response that
// already says (sign-in's `no-store`, health checks) keeps its own.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export const PRIVATE = 'private, no-store';
export const PUBLIC_REVALIDATED = 'no-cache';
export const NOT_STORED = 'no-store';

/** The Cache-Control a response to `request` with `status` gets, when it has none of its own. */
export function cacheControlFor(request: { method: string; headers: Record<string, unknown> }, status: number): string {
  if (request.headers.authorization !== undefined) return PRIVATE;
  const read = request.method === 'GET' || request.method === 'HEAD';
  return read && (status === 200 || status === 304) ? PUBLIC_REVALIDATED : NOT_STORED;
}

/** `vary` with `name` added, unless it is already there (or `*`). */
export function withVary(vary: string | undefined, name: string): string {
  const names = (vary ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.some((n) => n === '*' || n.toLowerCase() === name.toLowerCase())) return names.join(', ');
  return [...names, name].join(', ');
}

function headerText(value: ReturnType<FastifyReply['getHeader']>): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

export const caching = fp(async (app: FastifyInstance) => {
  // The Vary a response ends with, by the one it had: a handful of values in practice (none, or
  // CORS's `Origin`), so each is worked out once. Bounded, should a handler vary by more.
  const varies = new Map<string | undefined, string>();
  const varyWithAuthorization = (vary: string | undefined): string => {
    let result = varies.get(vary);
    if (result === undefined) {
      result = withVary(vary, 'Authorization');
      if (varies.size < 64) varies.set(vary, result);
    }
    return result;
  };
  app.addHook('onSend', (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
    if (!reply.hasHeader('cache-control')) {
      const policy = cacheControlFor(request, reply.statusCode);
      reply.header('cache-control', policy);
      if (policy === PUBLIC_REVALIDATED) reply.header('vary', varyWithAuthorization(headerText(reply.getHeader('vary'))));
    }
    done(null, payload);
  });
});
