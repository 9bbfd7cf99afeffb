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

const REASONS: Record<string, string> = {
  eventLoopDelay: 'the server is overloaded',
  eventLoopUtilization: 'the server is overloaded',
  heapUsedBytes: 'the server is low on memory',
  rssBytes: 'the server is low on memory',
  databaseUnavailable: 'the database is unreachable',
};

export const loadShedding = fp(async (app: FastifyInstance, options: LoadSheddingOptions) => {
  const exempt = async () => undefined; // under-pressure lets the request through
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
    pressureHandler: async (_request, _reply, type) => {
      throw refuse(type);
    },
  });
  // After under-pressure's own hook: a request it refused is not counted twice.
  app.addHook('onRequest', async (request) => {
    if (!options.databaseAvailable() && request.routeOptions.config?.shedLoad !== false) throw refuse('databaseUnavailable');
  });
});
