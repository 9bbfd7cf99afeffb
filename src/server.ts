// The composition root: services over the database, handlers over the services, HTTP on top.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { createAuthenticator, createHandlers, createIdempotentRunner } from './handlers/index.ts';
import { buildApp } from './http/app.ts';
import { loadSpec } from './http/spec.ts';
import type { Orm } from './persistence/db.ts';
import { createAccountsDomain } from './services/accounts/index.ts';
import { createChannelsDomain } from './services/channels/index.ts';
import { DomainEvents } from './services/events.ts';
import { createIdempotencyDomain } from './services/idempotency/index.ts';
import { createPostsDomain } from './services/posts/index.ts';
import { createSocialDomain } from './services/social/index.ts';

/**
 * Every domain's services, and how they react to each other's events. Closing an account
 * removes, before the request answers, everything other domains kept for it.
 */
export function createServices(orm: Orm, config: Config) {
  const events = new DomainEvents();
  const lists = { maxPage: config.maxPage };
  const { accounts, sessions } = createAccountsDomain(
    orm,
    {
      maxPage: config.maxPage,
      sessionIdleTtlSeconds: config.session.idleTtlSeconds,
      sessionAbsoluteTtlSeconds: config.session.absoluteTtlSeconds,
    },
    events,
  );
  const { social } = createSocialDomain(orm, accounts, lists);
  const { channels } = createChannelsDomain(orm, accounts, lists, events);
  const { posts } = createPostsDomain(orm, { accounts, social, channels }, lists);

  events.on('account.closed', ({ accountId }) => social.forgetAccount(accountId));
  events.on('account.closed', ({ accountId }) => channels.forgetAccount(accountId));
  events.on('account.closed', ({ accountId }) => posts.forgetAuthor(accountId));
  events.on('channels.deleted', ({ channelIds }) => posts.forgetChannels(channelIds));
  return { accounts, sessions, social, channels, posts, ...createIdempotencyDomain(orm, config.idempotency) };
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
