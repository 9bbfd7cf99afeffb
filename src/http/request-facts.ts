// What logs and metrics say about a request: its operation, never its raw URL (so metric labels
// stay bounded whatever paths clients send), and when it is over, answered or aborted.
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The spec's operationId; for routes outside the contract their template; `unmatched` for 404s. */
export function operationOf(request: FastifyRequest): string {
  const { schema, url } = request.routeOptions;
  const operationId = (schema as { operationId?: string } | undefined)?.operationId;
  if (operationId) return operationId;
  return url ?? 'unmatched';
}

/** The route template (`/v1/accounts/:accountId`), or undefined when no route matched. */
export function routeOf(request: FastifyRequest): string | undefined {
  return request.routeOptions.url;
}

/**
 * Calls `done` once, when the response is over: sent in full, or cut short because the client
 * went away (`aborted`). A response's `close` event fires in both cases, for HTTP/1.1 and HTTP/2,
 * where Fastify's onResponse misses the first and reports the second as a success under HTTP/2.
 */
export function whenOver(reply: FastifyReply, done: (aborted: boolean, elapsedMs: number) => void): void {
  const raw = reply.raw;
  const started = performance.now();
  // Fastify times the request from its arrival; requests answered before any hook ran (see
  // frameworkErrors in app.ts) have no such time, and are timed from here.
  raw.once('close', () => done(!(raw.writableEnded && raw.writableFinished), reply.elapsedTime || performance.now() - started));
}
