// Records every request in the metrics: count by operation, method and status class, latency by
// operation, problem responses by type, unexpected errors and rate-limited requests (idempotent
// replays are counted by app.ts, from the routes' replay hook). Served on its own port by
// ../metrics-server.ts.
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { statusClass, type HttpMetrics } from '../../observability/metrics.ts';
import '../request-facts.ts';
import '../types.ts';

export const httpMetrics = fp(async (app: FastifyInstance, options: { metrics: HttpMetrics }) => {
  const { metrics } = options;

  app.addHook('onRoute', (route: RouteOptions) => {
    const operationId = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (operationId) for (const method of [route.method].flat()) metrics.initialise(operationId, method);
  });

  app.onRequestOver(
    (request, reply, { aborted, elapsedMs, operation }) => {
      metrics.ended();
      const status = reply.statusCode;
      metrics.requests.cell(operation, request.method, aborted ? 'aborted' : statusClass(status)).inc();
      metrics.duration.cell(operation).observe(elapsedMs / 1000);
      if (aborted) return;
      const problem = request.problem;
      if (problem) {
        metrics.errorResponses.inc({ operation, status: String(status), type: problem.slug });
        if (problem.slug === 'rate-limited') metrics.rateLimited.inc({ operation });
      }
      if (request.unexpectedError) metrics.unexpectedErrors.inc({ operation });
    },
    () => metrics.started(),
  );
});
