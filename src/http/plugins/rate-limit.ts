// Rate limits with @fastify/rate-limit's limiter: a general per-address quota on every request,
// sign-in throttling per address and per account, and sign-up throttling per address (a sign-up
// answers whether an email is registered: the quota bounds how many emails one client can test).
// Every response reports the general quota in the IETF draft's RateLimit / RateLimit-Policy headers.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';

export interface RateLimitOptions {
  perMinute: number;
  signInPerAddressPerMinute: number;
  signInPerAccountPer15Minutes: number;
  signUpPerAddressPerHour: number;
}

const MINUTE = 60_000;

/** What the general quota says about one more request from an address. */
export interface AddressQuota {
  /** RateLimit and RateLimit-Policy. */
  headers: Record<string, string>;
  /** The 429 to answer with, when the address is over its quota. */
  exceeded: ApiProblem | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Counts a request from `address` against the general quota: for responses sent before the
     * hooks run (unroutable URLs, requests Node cannot parse).
     */
    chargeAddress(address: string): Promise<AddressQuota>;
  }
}

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
  app.decorate('chargeAddress', async (address: string): Promise<AddressQuota> => {
    // The limiter reads the key from a request; it needs no more of one than this.
    const limit = await general({ ip: address, routeOptions: { config: {} } } as unknown as FastifyRequest);
    if (limit.isAllowed) return { headers: {}, exceeded: undefined };
    return {
      headers: {
        ratelimit: `"default";r=${limit.remaining};t=${limit.ttlInSeconds}`,
        'ratelimit-policy': `"default";q=${limit.max};w=${MINUTE / 1000}`,
      },
      exceeded: limit.isExceeded ? tooMany(limit.ttlInSeconds, 'too many requests from this address') : undefined,
    };
  });
  app.addHook('onRequest', async (request, reply) => {
    const quota = await app.chargeAddress(request.ip);
    reply.headers(quota.headers);
    if (quota.exceeded) throw quota.exceeded;
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
  const signUpByAddress = app.createRateLimit({
    max: options.signUpPerAddressPerHour,
    timeWindow: 60 * MINUTE,
    keyGenerator: (request: FastifyRequest) => `sign-up-address:${request.ip}`,
  });
  type Limiter = typeof general;
  const limits: Record<string, [Limiter, string][]> = {
    createSession: [
      [signInByAddress, 'too many sign-in attempts from this address'],
      [signInByAccount, 'too many sign-in attempts for this account'],
    ],
    createAccount: [[signUpByAddress, 'too many sign-up attempts from this address']],
  };
  // Runs after validation, so the email the sign-in limit keys on is a well-formed one, and a
  // request the schema refuses costs no sign-up attempt.
  app.addHook('onRoute', (route) => {
    const limiters = limits[(route.schema as { operationId?: string } | undefined)?.operationId ?? ''];
    if (!limiters) return;
    const existing = route.preHandler ? [route.preHandler].flat() : [];
    route.preHandler = [
      async (request: FastifyRequest) => {
        for (const [limiter, what] of limiters) {
          const limit = await limiter(request);
          if (!limit.isAllowed && limit.isExceeded) throw tooMany(limit.ttlInSeconds, what);
        }
      },
      ...existing,
    ];
  });
});
