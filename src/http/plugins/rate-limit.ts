// Rate limits with @fastify/rate-limit's limiter: a general per-address quota on every request,
// sign-in throttling per address and per account, and sign-up throttling per address (a sign-up
// answers whether an email is registered: the quota bounds how many emails one client can test).
// Every response reports the general quota in the IETF draft's RateLimit / RateLimit-Policy headers.
// The counts are this instance's own (the limiter's in-memory store), or, with a shared store
// (REDIS_URL), one budget across instances in Redis (the limiter's Redis store, whose Lua script
// counts and expires atomically). A check the shared store cannot answer lets its request through
// (see ../rate-limit-store.ts).
import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';
import type { SharedRateLimitStore } from '../rate-limit-store.ts';
import { addRouteHook } from '../route-hooks.ts';

export interface RateLimitOptions {
  perMinute: number;
  signInPerAddressPerMinute: number;
  signInPerAccountPer15Minutes: number;
  signUpPerAddressPerHour: number;
  /** Counts in Redis, shared by every instance; without it, each instance counts alone. */
  store?: SharedRateLimitStore;
}

/** The prefix of the shared store's keys. */
export const RATE_LIMIT_KEY_PREFIX = 'agora-rate-limit:';

const MINUTE = 60_000;

/** The limiter's Redis store (its Lua script counts and expires atomically): not in its types. */
type RedisStoreClass = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: SharedRateLimitStore['redis'], key: string) => FastifyRateLimitStore;
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as RedisStoreClass;

/**
 * The Redis store, keyed `agora-rate-limit:<limiter>:<who>` (`…all:10.0.0.1`). The limiter's own
 * gives each limiter a child keyed by the route's method and URL, which a limiter made with
 * `createRateLimit` has not (its keys read `…undefinedundefined-all:10.0.0.1`); every limiter here
 * names itself in its keys instead.
 */
function sharedStore(redis: SharedRateLimitStore['redis']) {
  // What the plugin passes, to the constructor and to `child` alike (its types say route options).
  type Params = { continueExceeding?: boolean; exponentialBackoff?: boolean };
  return class SharedStore extends RedisStore {
    constructor(params: Params) {
      super(params.continueExceeding ?? false, params.exponentialBackoff ?? false, redis, RATE_LIMIT_KEY_PREFIX);
    }
    override child(params: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      return new SharedStore(params as Params);
    }
  };
}

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
  const { store } = options;
  // The store's failures reach `store.check` (skipOnError off), which counts them and lets the
  // request through: the limiter's own skipOnError would hide them.
  await app.register(rateLimit, { global: false, ...(store && { store: sharedStore(store.redis), skipOnError: false }) });

  const general = app.createRateLimit({
    max: options.perMinute,
    timeWindow: MINUTE,
    keyGenerator: (request: FastifyRequest) => `all:${request.ip}`,
  });
  type Limiter = typeof general;
  type Limit = Awaited<ReturnType<Limiter>>;
  /** A limiter's verdict; undefined when the shared store could not give one (the request goes through). */
  const ask = (limiter: Limiter, request: FastifyRequest): Promise<Limit | undefined> =>
    store ? store.check(() => limiter(request)) : limiter(request);

  app.decorate('chargeAddress', async (address: string): Promise<AddressQuota> => {
    // The limiter reads the key from a request; it needs no more of one than this.
    const limit = await ask(general, { ip: address, routeOptions: { config: {} } } as unknown as FastifyRequest);
    if (limit?.isAllowed) return { headers: {}, exceeded: undefined };
    return {
      headers: {
        // Unchecked (the shared store is unavailable): the whole quota, in no window yet.
        ratelimit: limit ? `"default";r=${limit.remaining};t=${limit.ttlInSeconds}` : `"default";r=${options.perMinute};t=0`,
        'ratelimit-policy': `"default";q=${options.perMinute};w=${MINUTE / 1000}`,
      },
      exceeded: limit?.isExceeded ? tooMany(limit.ttlInSeconds, 'too many requests from this address') : undefined,
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
      // Hashed: the shared store's keys say nothing of who is signing in.
      const account = hash('sha256', typeof email === 'string' ? email.trim().toLowerCase() : '', 'base64url');
      return `sign-in-account:${account}`;
    },
  });
  const signUpByAddress = app.createRateLimit({
    max: options.signUpPerAddressPerHour,
    timeWindow: 60 * MINUTE,
    keyGenerator: (request: FastifyRequest) => `sign-up-address:${request.ip}`,
  });
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
    const check = async (request: FastifyRequest) => {
      for (const [limiter, what] of limiters) {
        const limit = await ask(limiter, request);
        if (limit && !limit.isAllowed && limit.isExceeded) throw tooMany(limit.ttlInSeconds, what);
      }
    };
    addRouteHook(route, 'preHandler', check, 'first');
  });
});
