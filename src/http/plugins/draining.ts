// During a graceful shutdown the listener is closed at once, so new connections are refused, and
// the requests in flight run to completion; their responses close their connections so that the
// server can finish closing. A request that still arrives on an open keep-alive connection is
// refused with a 503 problem (Fastify's own 503 is not one).
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';

export const draining = fp(async (app: FastifyInstance, options: { retryAfterSeconds: number }) => {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (!closing) return;
    throw new ApiProblem('service-unavailable', 'the server is shutting down; retry on another connection', {
      headers: { 'retry-after': String(options.retryAfterSeconds) },
    });
  });
  app.addHook('onSend', async (request, reply) => {
    // HTTP/2 has no such header: Fastify closes its sessions with GOAWAY.
    if (closing && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
  });
});
