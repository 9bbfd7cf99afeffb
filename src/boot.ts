// One boot for every process that serves Agora (main.ts, worker.ts, the tests): from a config to a
// listening server. Database (embedded unless DATABASE_URL) → metrics → ORM → migrations → app →
// job queue (its consumers and schedules where this process is a worker; before listening, since
// a request's writes enqueue the jobs of the durable events they publish) → listen; `close`
// undoes it all in order. A process has two roles: the API (HTTP), and the worker (the job consumers and
// schedules, src/jobs/). `npm start` plays both unless WORKER=off; `npm run worker` only the worker.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { checkDomainsApart, persistence } from './domains/index.ts';
import { agoraJobs, eventConsumers, JobQueue, QUEUES, type Consumer, type Schedule } from './jobs/index.ts';
import { deferredLog, type Log } from './log.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { migrate } from './persistence/migrations.ts';
import { openDatabase, type Orm } from './persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './persistence/embedded-postgres.ts';
import type { InvalidationListener } from './persistence/invalidations.ts';
import type { Notices } from './persistence/sql.ts';
import { createServer, type Services } from './server.ts';
import { eventQueue } from './services/events.ts';

export interface BootOptions {
  /** Fastify's logger options (e.g. loggerOptions(...) with a stream of the caller's). */
  logger: FastifyServerOptions['logger'];
  /** The URL the ORM connects to, instead of the config's (e.g. through a proxy). */
  databaseUrl?: string;
  /** Where what needs a session connects (LISTEN, session locks, migrations), instead of the config's DATABASE_DIRECT_URL. */
  sessionUrl?: string;
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
  /**
   * Start the job queue (default true): enqueueing, and the consumers and schedules where this
   * process is a worker. False for a process without one (tests that run the purges themselves):
   * its durable domain events are then published to no one (no notification is made).
   */
  jobs?: boolean;
  /** Which roles this process plays: the API (default true), the worker (default: the config's WORKER). */
  roles?: { api?: boolean; worker?: boolean };
  /** The job queue's timings and extra queues, instead of the production ones (tests). */
  jobTuning?: {
    pollingIntervalSeconds?: number;
    superviseIntervalSeconds?: number;
    /** Replace Agora's schedules. */
    schedules?: Schedule[];
    /** More consumers, besides Agora's (e.g. of a test queue). */
    consumers?: Consumer[];
    /**
     * False: the worker runs no timed fan-out passes of the home timelines; whoever booted it
     * runs them (`services.timelines.fanOut`), so that a post is fanned out exactly when a test
     * says. Default true.
     */
    timedFanOut?: boolean;
  };
}

export interface Booted {
  app: FastifyInstance;
  /** Serves /metrics; undefined when METRICS_PORT=off. */
  metricsApp: FastifyInstance | undefined;
  services: Services;
  metrics: Metrics;
  /** The job queue; undefined when started with `jobs: false`. */
  jobs: JobQueue | undefined;
  invalidations: InvalidationListener | undefined;
  /** The notifications this instance sends after its writes' commits (src/persistence/notices.ts). */
  notices: Notices;
  /** The API's address, e.g. `http://127.0.0.1:3000` (the port bound when PORT=0); undefined for a worker alone. */
  url: string | undefined;
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

/**
 * Applies pending migrations on a session of their own: through the request pool when it is one
 * (`sessionUrl` is the ORM's URL), else on a one-connection ORM opened on `sessionUrl` for the run
 * (a pooler in transaction mode would split them over server connections).
 */
async function migrateOn(orm: Orm, sessionUrl: string, options: { log: Log; onQuery: (sql: string, tookMs: number | undefined, failed: boolean) => void }): Promise<string[]> {
  if (sessionUrl === orm.config.get('clientUrl')) return migrate(orm, { log: options.log });
  const direct = await openDatabase({ clientUrl: sessionUrl, persistence, poolMax: 1, onQuery: options.onQuery, log: options.log });
  try {
    return await migrate(direct, { log: options.log });
  } finally {
    await direct.close(true);
  }
}

export function boot(config: Config, options: BootOptions): Booting {
  let embedded: EmbeddedDatabase | undefined;
  let orm: Orm | undefined;
  let app: FastifyInstance | undefined;
  let metricsApp: FastifyInstance | undefined;
  let queue: JobQueue | undefined;
  let fanOut: { stop(): Promise<void> } | undefined;
  let closing: Promise<void> | undefined;
  const api = options.roles?.api !== false;
  // A process that serves no API is a worker, whatever WORKER says.
  const worker = !api || (options.roles?.worker ?? config.jobs.worker);

  // The API stops accepting and finishes its requests first (its onClose stops the database
  // probe and the invalidation listener), then the job queue stops fetching and waits for the
  // jobs in progress (half of SHUTDOWN_TIMEOUT_MS at most: those still running then are failed,
  // and retried by another worker), then /metrics, the pool, the database. Each is taken before
  // it is closed: a second pass closes only what opened since the first.
  const drain = async () => {
    const apiServer = app, metricsServer = metricsApp, jobs = queue, pool = orm, database = embedded, timelines = fanOut;
    app = metricsApp = orm = embedded = queue = fanOut = undefined;
    // The timelines' fan-out first: it has nothing in flight worth finishing.
    await timelines?.stop();
    await apiServer?.close();
    await jobs?.stop(Math.max(1000, Math.floor(config.shutdownTimeoutMs / 2)));
    await metricsServer?.close();
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
      // Domains served apart (SERVE_DOMAINS, <DOMAIN>_SERVICE_URL) must be ones that can be: said before anything starts.
      checkDomainsApart(config.remote.serveDomains, (name) => `SERVE_DOMAINS=${name}`);
      checkDomainsApart(Object.keys(config.remote.serviceUrls), (name) => `${name.toUpperCase()}_SERVICE_URL`);
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
      const clientUrl = options.databaseUrl ?? config.databaseUrl ?? embedded!.url;
      // What needs a session of its own (LISTEN, session locks, the migrations) connects here:
      // DATABASE_DIRECT_URL when requests go through a pooler in transaction mode.
      const sessionUrl = options.sessionUrl ?? config.databaseDirectUrl ?? clientUrl;
      orm = await openDatabase({
        clientUrl,
        persistence,
        ...(options.poolMax === undefined ? {} : { poolMax: options.poolMax }),
        onQuery: onQuery
          ? (sql, tookMs, failed) => {
              onQuery(sql, tookMs, failed);
              metrics.database.onQuery(sql, tookMs, failed);
            }
          : metrics.database.onQuery,
        log: databaseLog,
        connectTimeoutMs: config.databaseConnectTimeoutMs,
        namedStatements: config.databaseNamedStatements,
      });
      check();
      const applied = options.migrate === false ? [] : await migrateOn(orm, sessionUrl, { log: databaseLog, onQuery: metrics.database.onQuery });
      check();
      const server = await createServer(orm, config, options.logger, { metrics, onIdempotentReplay: options.onIdempotentReplay, sessionUrl, serving: api });
      app = server.app;
      metricsApp = server.metricsApp;
      check();
      const log = server.app.log;
      databaseLog.attach(log.child({ component: 'database' }));
      if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');

      // The job queue before the API listens: a request may publish durable events (which
      // enqueue in its unit of work) from its first answer on. A start that fails here stops
      // what was started (the catch below), as any other step.
      if (options.jobs !== false) {
        const tuning = options.jobTuning ?? {};
        const jobLog = log.child({ component: 'jobs' });
        const jobs = agoraJobs(server.services, jobLog);
        const consumers = [...jobs.consumers, ...eventConsumers(server.events.consumers, jobLog, { concurrency: { notifications: config.jobs.notificationConcurrency }, batchSize: { notifications: config.jobs.notificationBatchSize }, gatherMs: { notifications: config.jobs.notificationGatherMs } }), ...(tuning.consumers ?? [])];
        metrics.jobs.initialise([...QUEUES, ...consumers.map((c) => c.queue)]);
        queue = await JobQueue.start({
          connectionString: clientUrl,
          // Its wake-ups (LISTEN) ride on the invalidation listener's direct connection when
          // requests go through a pooler; its statements and transactions go through the pooler.
          ...(sessionUrl !== clientUrl && { listen: server.invalidations }),
          poolMax: config.jobs.poolMax,
          // New jobs' wake-ups share the instance's statements of wake-ups (a message's streams').
          notices: server.notices,
          worker,
          consumers,
          schedules: tuning.schedules ?? jobs.schedules,
          pollingIntervalSeconds: tuning.pollingIntervalSeconds ?? config.jobs.pollIntervalMs / 1000,
          superviseIntervalSeconds: tuning.superviseIntervalSeconds ?? 60,
          onAttempt: metrics.jobs.onAttempt,
          onError: (error) => jobLog.error({ err: error }, 'job queue error'),
          onWarning: (warning) => jobLog.warn({ data: warning.data }, warning.message),
          // Durable events enqueue in the writer's unit of work, through this queue: from before
          // its consumers start, since one may publish (a clean-up that deletes in turn).
          onReady: (started) => server.events.attach((uow, name, job) => started.enqueue(uow, name, { ...job })),
        });
        const started = queue;
        metrics.jobs.watchBacklog(() => started.backlog());
        // A deletion's clean-up that failed in process (its domain served apart, and down) is
        // left to the job the deletion enqueued with itself: the request answers as done.
        server.events.onDeferred((event, consumer, error) =>
          jobLog.warn({ err: error, event, consumer, queue: eventQueue(consumer) }, 'a clean-up failed in process; its job will do it'),
        );
        check();
        if (worker) {
          // The home timelines' fan-out (src/services/timelines/): passes over new posts,
          // one worker at a time (a row lock).
          if (tuning.timedFanOut !== false) {
            fanOut = server.services.timelines.startFanOut({
              onPass: metrics.timelines.onPass,
              onError: (error) => jobLog.warn({ err: error }, 'a timelines fan-out pass failed; the next one retries'),
            });
          }
          jobLog.info(
            {
              consumers: consumers.map((c) => c.queue),
              // The queues whose jobs run several at a time: how many.
              concurrency: Object.fromEntries(consumers.filter((c) => (c.concurrency ?? 1) > 1).map((c) => [c.queue, c.concurrency])),
              batchSize: Object.fromEntries(consumers.filter((c) => (c.batchSize ?? 1) > 1).map((c) => [c.queue, c.batchSize])),
              gatherMs: Object.fromEntries(consumers.filter((c) => (c.gatherMs ?? 0) > 0).map((c) => [c.queue, c.gatherMs])),
            },
            'worker started',
          );
        }
      } else {
        // No job queue (tests that do not exercise the consumers): durable events reach no one.
        server.events.withoutQueue();
      }

      const host = options.listen?.host ?? config.host;
      // The addresses actually bound: with PORT=0 (or METRICS_PORT=0) the system picks the port.
      const url = api ? await server.app.listen({ host, port: options.listen?.port ?? config.port }) : undefined;
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
      if (url && config.remote.serveDomains.length > 0) log.info({ domains: config.remote.serveDomains }, `domain server: internal API at ${url}/internal/`);
      else if (url) log.info({ http2: config.http2, tls: config.tls !== undefined }, `docs at ${url}/docs`);
      return { ...server, jobs: queue, url, metricsUrl, close };
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
