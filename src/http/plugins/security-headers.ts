// Helmet's headers with a strict CSP for JSON (the docs page relaxes it for itself), and CORS
// for the configured origins only.
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const securityHeaders = fp(async (app: FastifyInstance, options: { corsOrigins: string[] }) => {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  const allowed = new Set(options.corsOrigins);
  await app.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      const permitted = typeof origin === 'string' && allowed.has(origin);
      callback(null, {
        origin: permitted ? origin : false,
        // Only real preflights are answered here; a plain OPTIONS reaches the API's own handler.
        preflight: permitted && typeof request.headers['access-control-request-method'] === 'string',
        methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
        allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'x-request-id'],
        exposedHeaders: ['etag', 'location', 'x-request-id', 'ratelimit', 'ratelimit-policy', 'retry-after', 'allow', 'idempotent-replayed'],
        maxAge: 600,
      });
    },
  });
});
