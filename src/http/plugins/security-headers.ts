// Helmet's headers with a strict CSP for JSON (the docs page relaxes it for itself), and CORS
// for the configured origins only, allowing what the contract declares: a preflight learns the
// methods of its path, and every header parameter and response header of the contract.
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import { corsPolicy, pathMethods, type ServedApi } from '../conventions.ts';

const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginResourcePolicy: { policy: 'same-site' },
};

/**
 * The headers helmet sets for `options`, worked out once: with these options none depends on the
 * request. (@fastify/helmet built helmet's whole middleware again for every request, about a
 * tenth of the memory a request allocated; bench/README.md.)
 */
export function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return Object.freeze(headers);
}

/** The headers every response of the API carries, also those sent before any hook runs. */
export const SECURITY_HEADERS = helmetHeaders(HELMET_OPTIONS);

// The server's own headers, which the contract leaves out: a caller may send its request id and
// read the one the server used.
const REQUEST_ID = 'x-request-id';

export interface SecurityHeadersOptions {
  corsOrigins: string[];
  /** Every API version served: a preflight allows what the contracts declare. */
  apis: ServedApi[];
}

export const securityHeaders = fp(async (app: FastifyInstance, options: SecurityHeadersOptions) => {
  const headers = SECURITY_HEADERS;
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
  const allowed = new Set(options.corsOrigins);
  const policy = corsPolicy(options.apis.map((api) => api.document));
  const methodsOf = pathMethods(options.apis);
  const allowedHeaders = [...policy.allowedHeaders, REQUEST_ID];
  const exposedHeaders = [...policy.exposedHeaders, REQUEST_ID];
  const common = { allowedHeaders, exposedHeaders, maxAge: 600 };
  // A request from no allowed origin (every request that is not a browser's cross-origin one)
  // gets these, worked out once: only Vary: Origin. The methods of the path, a scan of the
  // contract's paths, are looked up only for an allowed origin's preflight, which announces them.
  const refused = { ...common, origin: false, preflight: false, methods: policy.methods };
  await app.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      if (typeof origin !== 'string' || !allowed.has(origin)) return callback(null, refused);
      // Only real preflights are answered here; a plain OPTIONS reaches the API's own handler.
      const preflight = typeof request.headers['access-control-request-method'] === 'string';
      const methods = preflight ? (methodsOf(request.url.split('?')[0] ?? '')?.methods ?? policy.methods) : policy.methods;
      callback(null, { ...common, origin, preflight, methods });
    },
  });
});
