// Probes for orchestrators and load balancers, outside /v1 and outside the contract:
// /healthz says the process is alive and serving; /readyz says whether it can do useful work
// now: the database answers, its migrations are applied, and requests are not being shed
// (plugins/load-shedding.ts). Neither probe is shed itself. With a shared rate-limit store,
// /readyz also says whether it answers, without depending on it (requests are served without).
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface ReadinessChecks {
  /** The database answers a query in time. */
  database: () => Promise<boolean>;
  /** Every migration this code knows of has been applied. */
  migrations: () => Promise<boolean>;
  /**
   * The shared rate-limit store answers (REDIS_URL set). Reported, but never makes the instance
   * unready: without it, requests are served without rate limits.
   */
  rateLimitStore?: () => boolean;
  /**
   * Whether each domain served by another process (<DOMAIN>_SERVICE_URL) answered its last call.
   * Reported (status `degraded` while one does not), but never makes the instance unready: the
   * other domains are served, and that domain's operations answer 503 until it is back.
   */
  remoteDomains?: () => Record<string, boolean>;
}

function noStore(reply: FastifyReply) {
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8');
}

export interface HealthOptions {
  checks: ReadinessChecks;
  /** True while requests are refused for overload or an unhealthy database. */
  shedding: () => boolean;
  retryAfterSeconds: number;
}

export async function health(app: FastifyInstance, options: HealthOptions) {
  const config = { shedLoad: false };

  app.get('/healthz', { config }, async (_request, reply) => noStore(reply).send({ status: 'ok' }));

  app.get('/readyz', { config }, async (_request, reply) => {
    const database = await options.checks.database();
    const migrations = database ? await options.checks.migrations().catch(() => false) : undefined;
    const shedding = options.shedding();
    const ready = database && migrations === true && !shedding;
    noStore(reply).code(ready ? 200 : 503);
    if (!ready) reply.header('retry-after', String(options.retryAfterSeconds));
    const remote = options.checks.remoteDomains?.();
    const degraded = remote !== undefined && Object.values(remote).some((up) => !up);
    return reply.send({
      status: ready ? (degraded ? 'degraded' : 'ready') : 'not-ready',
      checks: {
        database: database ? 'ok' : 'unreachable',
        migrations: migrations === undefined ? 'unknown' : migrations ? 'applied' : 'pending',
        load: shedding ? 'shedding' : 'ok',
        ...(options.checks.rateLimitStore && { rateLimitStore: options.checks.rateLimitStore() ? 'ok' : 'unavailable' }),
        ...(remote && { domains: Object.fromEntries(Object.entries(remote).map(([name, up]) => [name, up ? 'ok' : 'unreachable'])) }),
      },
    });
  });
}
