// Rate limits with @fastify/rate-limit's limiter: a general per-address quota on every request,
// and sign-in throttling per address and per account. Every response reports the general quota
// in the IETF draft's RateLimit / RateLimit-Policy headers.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';

export interface RateLimitOptions {
  perMinute: number;
  signInPerAddressPerMinute: number;
  signInPerAccountPer15Minutes: number;
}

const MINUTE = 60_000;

function tooMany(retryAfterSeconds: number, what: string): ApiProblem {
  return new ApiProblem('rate-limited', `${what}; retry in ${retryAfterSeconds} s`, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
}

export const rateLimits = fp(async (app: FastifyInstance, options: RateLimitOptions) => {
  await app.register(rateLimit, { global: false });

  const general = app.createRateLimit({
    max: options.perMinute,
    timeWindow: MINUTE,
    keyGenerator: (request: FastifyRequest) => `all:${request.ip}`,
  });
  app.addHook('onRequest', async (request, reply) => {
    const limit = await general(request);
    if (limit.isAllowed) return;
    reply.header('ratelimit', `"default";r=${limit.remaining};t=${limit.ttlInSeconds}`);
    reply.header('ratelimit-policy', `"default";q=${limit.max};w=${MINUTE / 1000}`);
    if (limit.isExceeded) throw tooMany(limit.ttlInSeconds, 'too many requests from this address');
  });

  const signInByAddress = app.createRateLimit({
    max: options.signInPerAddressPerMinute,
    timeWindow: MINUTE,
    keyGenerator: (request: FastifyRequest) => `sign-in-address:${request.ip}`,
  });
  const signInByAccount = app.createRateLimit({
    max: options.signInPerAccountPer15Minutes,
    timeWindow: 15 * MINUTE,
    keyGenerator: (request: FastifyRequest) => {
      const email = (request.body as { email?: unknown } | undefined)?.email;
      return `sign-in-account:${typeof email === 'string' ? email.trim().toLowerCase() : ''}`;
    },
  });
  // Runs after validation, so the email it keys on is a well-formed one.
  app.addHook('onRoute', (route) => {
    if ((route.schema as { operationId?: string } | undefined)?.operationId !== 'createSession') return;
    const existing = route.preHandler ? [route.preHandler].flat() : [];
    route.preHandler = [
      async (request: FastifyRequest) => {
        for (const [limiter, what] of [
          [signInByAddress, 'too many sign-in attempts from this address'],
          [signInByAccount, 'too many sign-in attempts for this account'],
        ] as const) {
          const limit = await limiter(request);
          if (!limit.isAllowed && limit.isExceeded) throw tooMany(limit.ttlInSeconds, what);
        }
      },
      ...existing,
    ];
  });
});
