// Every request gets an id: the caller's X-Request-Id when it is sane, a fresh UUID otherwise.
// It is echoed back and appears in every log line and problem body of the request.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import { withCall } from '../../handlers/index.ts';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

export function genReqId(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && SANE.test(sent) ? sent : randomUUID();
}

export const requestId = fp(async (app: FastifyInstance) => {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // The handler runs in the request's call context: calls to a domain served apart carry its id.
  app.addHook('preHandler', (request, _reply, done) => withCall({ requestId: request.id }, done));
});
