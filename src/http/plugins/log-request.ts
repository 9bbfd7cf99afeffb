// One JSON line per request, written when the response is over (Fastify's own two lines are
// turned off): method, path, route template and operation, status, latency, bytes sent, the
// requestId (a label of every line), the signed-in account and the Idempotency-Key when present.
// Requests the client aborted get their line too. Bodies, headers and cookies are never logged.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import '../request-facts.ts';
import { addRouteHook } from '../route-hooks.ts';
import '../types.ts';

const MAX_LOGGED_PATH = 2048;
const MAX_IDEMPOTENCY_KEY = 255;

/** The request's path without its query, at most MAX_LOGGED_PATH characters. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)).slice(0, MAX_LOGGED_PATH);
}

function bytesOut(request: FastifyRequest, reply: FastifyReply, streamed: number | undefined): number {
  if (request.method === 'HEAD') return 0;
  if (streamed !== undefined) return streamed;
  const length = Number(reply.getHeader('content-length'));
  return Number.isFinite(length) ? length : 0;
}

export const logRequests = fp(async (app: FastifyInstance) => {
  // Streamed bodies (compressed ones, files) have no Content-Length: count what goes out.
  const streamed = new WeakMap<FastifyRequest, { bytes: number }>();
  function countStreamedBytes(request: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) {
    if (!payload || typeof (payload as NodeJS.ReadableStream).pipe !== 'function') return done(null, payload);
    const counter = { bytes: 0 };
    streamed.set(request, counter);
    const counting = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        counter.bytes += chunk.length;
        callback(null, chunk);
      },
    });
    // An error or an abort destroys both streams; Fastify reports it for the response.
    pipeline(payload as NodeJS.ReadableStream, counting).catch(() => {});
    done(null, counting);
  }
  // Route-level, and registered after @fastify/compress: runs after it, on the bytes sent.
  app.addHook('onRoute', (route: RouteOptions) => {
    addRouteHook(route, 'onSend', countStreamedBytes, 'last');
  });

  app.onRequestOver((request, reply, { aborted, elapsedMs, operation, route }) => {
    const idempotencyKey = request.headers['idempotency-key'];
    const line = {
      method: request.method,
      path: pathOf(request.url),
      route,
      operation,
      status: aborted ? null : reply.statusCode,
      latencyMs: Math.round(elapsedMs * 1000) / 1000,
      bytesOut: aborted ? (streamed.get(request)?.bytes ?? 0) : bytesOut(request, reply, streamed.get(request)?.bytes),
      httpVersion: request.raw.httpVersion,
      ip: request.ip,
      accountId: request.caller?.accountId,
      // plugins/idempotency.ts binds the parsed key (and idempotentReplayed) to the request's logger for the
      // operations that take one; elsewhere the header is logged as sent.
      idempotencyKey: request.idempotencyKey === null && typeof idempotencyKey === 'string' ? idempotencyKey.slice(0, MAX_IDEMPOTENCY_KEY) : undefined,
      problem: request.problem?.slug,
      aborted: aborted || undefined,
    };
    request.log.info(line, aborted ? 'request aborted by the client' : 'request completed');
  });
});
