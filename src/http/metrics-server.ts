// /metrics in Prometheus's text format, on a port of its own (METRICS_PORT) so that it is not
// part of the public API. Scrapes are not logged: one every few seconds would drown the log.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export async function buildMetricsServer(options: { registry: Registry; logger: FastifyBaseLogger }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/metrics', async (_request, reply) => {
    const text = await options.registry.metrics();
    return reply.header('cache-control', 'no-store').type(options.registry.contentType).send(text);
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('metrics are at /metrics\n'));
  await app.ready();
  return app;
}
