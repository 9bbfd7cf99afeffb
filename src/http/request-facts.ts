// What logs and metrics say about a request: its operation, never its raw URL (so metric labels
// stay bounded whatever paths clients send), and when it is over, answered or aborted.
//
// One listener per request watches for its end and hands the same facts to every plugin that
// asked (the request log, the metrics): one `close` listener, one clock reading, and the route's
// options read once. Fastify's `request.routeOptions` is a getter that builds a new object of a
// dozen fields on each read; each plugin read it for itself, two or three times a request.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/** What is known of a request once it is over. */
export interface RequestOutcome {
  /** True when the client went away before the response was sent in full. */
  aborted: boolean;
  /** From the request's arrival (Fastify's clock) to the end of the response. */
  elapsedMs: number;
  /** The spec's operationId; for routes outside the contract their template; `unmatched` for 404s. */
  operation: string;
  /** The route template (`/v1/accounts/:accountId`), or undefined when no route matched. */
  route: string | undefined;
}

export type RequestOverListener = (request: FastifyRequest, reply: FastifyReply, outcome: RequestOutcome) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Calls `listener` for every request once it is over (registered at startup, in order), and
     * `started` as each begins to be watched (the in-flight gauge).
     */
    onRequestOver(listener: RequestOverListener, started?: () => void): void;
    /** Watches `request` for its end; for requests that no hook sees (app.ts, frameworkErrors). */
    watchRequestOver(request: FastifyRequest, reply: FastifyReply): void;
  }
}

/** The operation and route template of `request`, from one read of its route options. */
function operationAndRoute(request: FastifyRequest): { operation: string; route: string | undefined } {
  const { schema, url } = request.routeOptions;
  const operationId = (schema as { operationId?: string } | undefined)?.operationId;
  return { operation: operationId || (url ?? 'unmatched'), route: url };
}

/**
 * Calls `done` once, when the response is over: sent in full, or cut short because the client
 * went away (`aborted`). A response's `close` event fires in both cases, for HTTP/1.1 and HTTP/2,
 * where Fastify's onResponse misses the first and reports the second as a success under HTTP/2.
 */
function whenOver(reply: FastifyReply, done: (aborted: boolean, elapsedMs: number) => void): void {
  const raw = reply.raw;
  const started = performance.now();
  // Fastify times the request from its arrival; requests answered before any hook ran (see
  // frameworkErrors in app.ts) have no such time, and are timed from here.
  raw.once('close', () => done(!(raw.writableEnded && raw.writableFinished), reply.elapsedTime || performance.now() - started));
}

/** Registered before the plugins that listen (log-request.ts, metrics.ts). */
export const requestOver = fp(async (app: FastifyInstance) => {
  const listeners: RequestOverListener[] = [];
  const starts: Array<() => void> = [];
  function watch(request: FastifyRequest, reply: FastifyReply) {
    for (const started of starts) started();
    whenOver(reply, (aborted, elapsedMs) => {
      const { operation, route } = operationAndRoute(request);
      const outcome: RequestOutcome = { aborted, elapsedMs, operation, route };
      for (const listener of listeners) listener(request, reply, outcome);
    });
  }
  app.decorate('onRequestOver', (listener: RequestOverListener, started?: () => void) => {
    listeners.push(listener);
    if (started) starts.push(started);
  });
  app.decorate('watchRequestOver', watch);
  app.addHook('onRequest', (request, reply, done) => {
    watch(request, reply);
    done();
  });
});
