// Builds the HTTP server: third-party plugins, then ours, then the routes of the contract.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Authenticate, Handlers } from '../handlers/index.ts';
import { contentTypes } from './plugins/content-types.ts';
import { docs } from './plugins/docs.ts';
import { frameworkErrors, problems } from './plugins/errors.ts';
import { rateLimits, type RateLimitOptions } from './plugins/rate-limit.ts';
import { genReqId, requestId } from './plugins/request-id.ts';
import { securityHeaders } from './plugins/security-headers.ts';
import { routes } from './routes.ts';
import type { Spec } from './spec.ts';
import { validatorCompiler } from './validation.ts';

export const API_PREFIX = '/v1';

export interface AppOptions {
  spec: Spec;
  handlers: Handlers;
  authenticate: Authenticate;
  logger: FastifyServerOptions['logger'];
  bodyLimitBytes: number;
  corsOrigins: string[];
  trustProxy: boolean;
  rateLimit: RateLimitOptions;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger,
    bodyLimit: options.bodyLimitBytes,
    genReqId,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    trustProxy: options.trustProxy,
    return503OnClosing: true,
    frameworkErrors,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });
  app.setValidatorCompiler(validatorCompiler);

  await app.register(requestId);
  await app.register(problems, { document: options.spec.document, prefix: API_PREFIX });
  await app.register(securityHeaders, { corsOrigins: options.corsOrigins });
  await app.register(rateLimits, options.rateLimit);
  await app.register(contentTypes);
  await app.register(routes, {
    document: options.spec.document,
    prefix: API_PREFIX,
    handlers: options.handlers,
    authenticate: options.authenticate,
  });
  await app.register(docs, { spec: options.spec });
  await app.ready();
  return app;
}
