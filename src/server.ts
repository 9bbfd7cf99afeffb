// The composition root: services over the database, handlers over the services, HTTP on top.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { createAuthenticator, createHandlers, createIdempotentRunner } from './handlers/index.ts';
import { buildApp } from './http/app.ts';
import { loadSpec } from './http/spec.ts';
import type { Orm } from './persistence/db.ts';
import { createAccountsDomain } from './services/accounts/index.ts';
import { createIdempotencyDomain } from './services/idempotency/index.ts';

export function createServices(orm: Orm, config: Config) {
  return {
    ...createAccountsDomain(orm, {
      maxPage: config.maxPage,
      sessionIdleTtlSeconds: config.session.idleTtlSeconds,
      sessionAbsoluteTtlSeconds: config.session.absoluteTtlSeconds,
    }),
    ...createIdempotencyDomain(orm, config.idempotency),
  };
}

export type Services = ReturnType<typeof createServices>;

export interface ServerHooks {
  /** Called once per response replayed for an Idempotency-Key (e.g. to count replays). */
  onIdempotentReplay?: (operationId: string) => void;
}

export async function createServer(
  orm: Orm,
  config: Config,
  logger: FastifyServerOptions['logger'],
  hooks: ServerHooks = {},
): Promise<{ app: FastifyInstance; services: Services }> {
  const services = createServices(orm, config);
  const app = await buildApp({
    spec: loadSpec(),
    handlers: createHandlers(services),
    authenticate: createAuthenticator(services),
    runIdempotently: createIdempotentRunner(services),
    onIdempotentReplay: hooks.onIdempotentReplay,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    rateLimit: config.rateLimit,
  });
  return { app, services };
}
