// The composition root: services over the database, handlers over the services, HTTP on top.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { createAuthenticator, createHandlers } from './handlers/index.ts';
import { buildApp } from './http/app.ts';
import { loadSpec } from './http/spec.ts';
import type { Orm } from './persistence/db.ts';
import { createAccountsDomain } from './services/accounts/index.ts';

export function createServices(orm: Orm, config: Config) {
  return createAccountsDomain(orm, {
    maxPage: config.maxPage,
    sessionIdleTtlSeconds: config.session.idleTtlSeconds,
    sessionAbsoluteTtlSeconds: config.session.absoluteTtlSeconds,
  });
}

export type Services = ReturnType<typeof createServices>;

export async function createServer(orm: Orm, config: Config, logger: FastifyServerOptions['logger']): Promise<{ app: FastifyInstance; services: Services }> {
  const services = createServices(orm, config);
  const app = await buildApp({
    spec: loadSpec(),
    handlers: createHandlers(services),
    authenticate: createAuthenticator(services),
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    rateLimit: config.rateLimit,
  });
  return { app, services };
}
