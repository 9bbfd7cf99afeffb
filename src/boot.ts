// One boot for every process that serves Agora (main.ts, the tests): from a config to a
// listening server. Database (embedded unless DATABASE_URL) → metrics → ORM → migrations → app →
// listen → background jobs; `close` undoes it all in order.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { startIdempotencyPurge } from './jobs/purge-idempotency-keys.ts';
import { startSessionPurge } from './jobs/purge-sessions.ts';
import { deferredLog } from './log.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { migrate } from './persistence/migrations.ts';
import { openDatabase, type Orm } from './persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './persistence/embedded-postgres.ts';
import type { InvalidationListener } from './persistence/invalidations.ts';
import { createServer, type Services } from './server.ts';

export interface BootOptions {
  /** Fastify's logger options (e.g. loggerOptions(...) with a stream of the caller's). */
  logger: FastifyServerOptions['logger'];
  /** The URL the ORM connects to, instead of the config's (e.g. through a proxy). */
  databaseUrl?: string;
  /** The ORM's pool size, instead of the default. */
  poolMax?: number;
  /** Sees every statement the ORM runs, besides the metrics. */
  onQuery?: (sql: string, tookMs: number | undefined, failed: boolean) => void;
  /** Called once per response replayed for an Idempotency-Key. */
  onIdempotentReplay?: (operationId: string) => void;
  /** Where to listen, instead of the config's host, PORT and METRICS_PORT. */
  listen?: { host?: string; port?: number; metricsPort?: number };
  /** Apply pending migrations (default true); false for a database known to be migrated. */
  migrate?: boolean;
  /** Start the purge jobs (default true); false when the caller runs them itself. */
  jobs?: boolean;
}

export interface Booted {
  app: FastifyInstance;
  /** Serves /metrics; undefined when METRICS_PORT=off. */
  metricsApp: FastifyInstance | undefined;
  services: Services;
  metrics: Metrics;
  invalidations: InvalidationListener | undefined;
  /** The API's address, e.g. `http://127.0.0.1:3000` (the port bound when PORT=0). */
  url: string;
  /** `http://host:port/metrics`, or undefined when METRICS_PORT=off. */
  metricsUrl: string | undefined;
  /** Stops everything, in order; idempotent. */
  close(): Promise<void>;
}

/** A boot under way: `close` may be called before it resolves and stops what was started. */
export type Booting = Promise<Booted> & { close(): Promise<void> };

/** Thrown by a boot stopped by `close` before it finished. */
export class BootClosed extends Error {
  constructor() {
    super('closed while starting');
    this.name = 'BootClosed';
  }
}

export function boot(config: Config, options: BootOptions): Booting {
  let embedded: EmbeddedDatabase | undefined;
  let orm: Orm | undefined;
  let app: FastifyInstance | undefined;
  let metricsApp: FastifyInstance | undefined;
  let purges: { stop(): Promise<void> }[] = [];
  let closing: Promise<void> | undefined;

  // The API stops accepting and finishes its requests first (its onClose stops the database
  // probe and the invalidation listener), then /metrics, the jobs, the pool, the database. Each
  // is taken before it is closed: a second pass closes only what opened since the first.
  const drain = async () => {
    const api = app, metricsServer = metricsApp, jobs = purges, pool = orm, database = embedded;
    app = metricsApp = orm = embedded = undefined;
    purges = [];
    await api?.close();
    await metricsServer?.close();
    await Promise.all(jobs.map((job) => job.stop()));
    await pool?.close(true);
    await database?.stop();
  };
  const close = () => (closing ??= drain());
  /** After each step of the start: a close that came meanwhile ends it (the catch below closes what the step opened). */
  const check = () => {
    if (closing) throw new BootClosed();
  };

  const start = async (): Promise<Booted> => {
    try {
      // The database's own log lines (the ORM's warnings, the embedded server's supervision).
      const databaseLog = deferredLog();
      if (!config.databaseUrl && !options.databaseUrl) {
        console.log(`agora: no DATABASE_URL; starting the embedded PostgreSQL in ${config.dataDir}/postgres`);
        embedded = await startEmbeddedPostgres({
          dataDir: `${config.dataDir}/postgres`,
          port: config.embeddedPostgresPort,
          database: 'agora',
          log: config.logLevel === 'debug' || config.logLevel === 'trace' ? (m) => console.log(`postgres: ${m}`) : undefined,
          events: databaseLog,
        });
        check();
      }
      const metrics = createMetrics();
      const onQuery = options.onQuery;
      orm = await openDatabase({
        clientUrl: options.databaseUrl ?? config.databaseUrl ?? embedded!.url,
        ...(options.poolMax === undefined ? {} : { poolMax: options.poolMax }),
        onQuery: onQuery
          ? (sql, tookMs, failed) => {
              onQuery(sql, tookMs, failed);
              metrics.database.onQuery(sql, tookMs, failed);
            }
          : metrics.database.onQuery,
        log: databaseLog,
        connectTimeoutMs: config.databaseConnectTimeoutMs,
      });
      check();
      const applied = options.migrate === false ? [] : await migrate(orm, { log: databaseLog });
      check();
      const server = await createServer(orm, config, options.logger, { metrics, onIdempotentReplay: options.onIdempotentReplay });
      app = server.app;
      metricsApp = server.metricsApp;
      check();
      const log = server.app.log;
      databaseLog.attach(log.child({ component: 'database' }));
      if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');

      const host = options.listen?.host ?? config.host;
      // The addresses actually bound: with PORT=0 (or METRICS_PORT=0) the system picks the port.
      const url = await server.app.listen({ host, port: options.listen?.port ?? config.port });
      let metricsUrl: string | undefined;
      if (server.metricsApp) {
        // Logged as "metrics at …", not "Server listening at …", which names the API's address.
        await server.metricsApp.listen({
          host,
          port: options.listen?.metricsPort ?? config.metricsPort!,
          listenTextResolver: (bound) => `metrics at ${bound}/metrics`,
        });
        const { port } = server.metricsApp.server.address() as AddressInfo;
        metricsUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
      }
      check();
      // Background work only once serving: a start that fails has nothing running to stop.
      if (options.jobs !== false) {
        purges = [startSessionPurge(server.services.sessions, log), startIdempotencyPurge(server.services.idempotency, log)];
      }
      log.info({ http2: config.http2, tls: config.tls !== undefined }, `docs at ${url}/docs`);
      return { ...server, url, metricsUrl, close };
    } catch (error) {
      // A start that fails stops what it had started (the embedded database above all). A close
      // that came meanwhile may have made a step fail: the start was closed, whatever that step said.
      const closedMeanwhile = closing !== undefined;
      await close().catch(() => {});
      await drain().catch(() => {});
      throw closedMeanwhile ? new BootClosed() : error;
    }
  };
  return Object.assign(start(), { close });
}
