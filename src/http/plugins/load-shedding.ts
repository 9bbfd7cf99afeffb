// Load shedding: while the event loop lags or memory runs out (@fastify/under-pressure), or during
// a database outage (persistence/availability.ts), requests are refused at once with a 503 problem
// and Retry-After instead of queueing until they time out. Routes that must answer regardless (the
// health probes) opt out with `config: { shedLoad: false }`.
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    shedLoad?: boolean;
  }
}

export interface LoadSheddingOptions {
  /** 0 turns a check off. */
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
  retryAfterSeconds: number;
  /** False during a database outage. */
  databaseAvailable: () => boolean;
  /** Told of every refused request, with why. */
  onShed: (reason: string) => void;
}

/** How often under-pressure samples the event loop's lag (its default, stated here because the start-up rule below depends on it). */
export const SAMPLE_INTERVAL_MS = 1000;

/**
 * True when a lag reading must not shed: one taken before the server was ready, or so soon after
 * that its sample still covers the start-up. under-pressure reads a sample in which the loop never
 * turned as an infinite lag, and building the server (compiling both contracts' schemas) can hold
 * the loop for a whole sample: a server that had just said it was listening refused its first
 * requests with 503 for a second (the benchmark's priming saw 52 of them on a busy machine).
 * What the loop did before the server was ready says nothing about its load.
 */
export function lagFromStartUp(type: string, msSinceReady: number | undefined): boolean {
  return type === 'eventLoopDelay' && (msSinceReady === undefined || msSinceReady < 2 * SAMPLE_INTERVAL_MS);
}

const REASONS: Record<string, string> = {
  eventLoopDelay: 'the server is overloaded',
  eventLoopUtilization: 'the server is overloaded',
  heapUsedBytes: 'the server is low on memory',
  rssBytes: 'the server is low on memory',
  databaseUnavailable: 'the database is unreachable',
};

export const loadShedding = fp(async (app: FastifyInstance, options: LoadSheddingOptions) => {
  const exempt = async () => undefined; // under-pressure lets the request through
  let readyAt: number | undefined;
  app.addHook('onReady', async () => {
    readyAt = performance.now();
  });
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.config?.shedLoad === false) route.config = { ...route.config, pressureHandler: exempt } as never;
  });
  const refuse = (type: string) => {
    options.onShed(type);
    return new ApiProblem('service-unavailable', `${REASONS[type] ?? 'the server is saturated'}; retry in ${options.retryAfterSeconds} s`, {
      headers: { 'retry-after': String(options.retryAfterSeconds) },
    });
  };
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: options.maxHeapUsedBytes,
    maxRssBytes: options.maxRssBytes,
    retryAfter: options.retryAfterSeconds,
    sampleInterval: SAMPLE_INTERVAL_MS,
    pressureHandler: async (_request, _reply, type) => {
      if (lagFromStartUp(type, readyAt === undefined ? undefined : performance.now() - readyAt)) return;
      throw refuse(type);
    },
  });
  // After under-pressure's own hook: a request it refused is not counted twice.
  app.addHook('onRequest', (request, _reply, done) => {
    if (options.databaseAvailable() || request.routeOptions.config?.shedLoad === false) return done();
    done(refuse('databaseUnavailable'));
  });
});
