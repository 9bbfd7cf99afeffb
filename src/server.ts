// The composition root: services over the database, handlers over the services, HTTP on top,
// and the metrics that each layer feeds through plain callbacks.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import { createHandlers, createServices as createDomainServices, servedBindings, type Services } from './domains/index.ts';
import { createAuthenticator, createIdempotentRunner } from './handlers/index.ts';
import { buildApp, buildWorkerApp, type AppOptions } from './http/app.ts';
import { buildMetricsServer } from './http/metrics-server.ts';
import { RATE_LIMIT_KEY_PREFIX } from './http/plugins/rate-limit.ts';
import type { SharedRateLimitStore } from './http/rate-limit-store.ts';
import { loadSpec, specV2Path } from './http/spec.ts';
import { deferredLog, silentLog, type Log } from './log.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { DatabaseAvailability } from './persistence/availability.ts';
import { isConnectionFailure } from './persistence/connection-failures.ts';
import { pendingMigrations } from './persistence/migrations.ts';
import { guardQueries, poolStats, type Orm } from './persistence/orm.ts';
import { createDatabase, type Notices } from './persistence/sql.ts';
import { RemoteClient } from './remote/client.ts';
import { buildDomainServer } from './remote/server.ts';
import { InvalidationListener } from './persistence/invalidations.ts';
import { StreamSlots } from './persistence/stream-slots.ts';
import { noCaching, type Caching } from './services/cache.ts';
import { DomainEvents } from './services/events.ts';
import type { StreamTransport } from './services/stream/index.ts';

export type { Services } from './domains/index.ts';

/**
 * Every domain's services (src/domains/index.ts), and how they react to each other's events.
 * Closing an account removes, before the request answers, everything other domains kept for it.
 */
export function createServices(
  orm: Orm,
  config: Config,
  log: Log = silentLog,
  caching: Caching = noCaching,
  events?: DomainEvents,
  streams?: StreamTransport,
  remotes?: Readonly<Record<string, RemoteClient<any>>>,
): Services {
  return createDomainServices({ database: createDatabase(orm), config, log, caching, streams, remotes, ...(events ? { events } : {}) });
}

/** The clients of the domains served by other processes (`<DOMAIN>_SERVICE_URL`), by domain. */
function remoteClients(config: Config, log: Log, metrics: Metrics): Record<string, RemoteClient<any>> {
  const clients: Record<string, RemoteClient<any>> = {};
  for (const [target, url] of Object.entries(config.remote.serviceUrls)) {
    metrics.outbound.setUp(target, true);
    clients[target] = new RemoteClient({
      target,
      url,
      token: config.remote.token,
      deadlineMs: config.remote.callTimeoutMs,
      retryAfterSeconds: config.pressure.retryAfterSeconds,
      log,
      observe: metrics.outbound.onCall,
      onAvailability: metrics.outbound.setUp,
    });
  }
  return clients;
}

/** What the app needs at run time, beside the services and the config. */
export type AppRuntime = Pick<AppOptions, 'logger' | 'metrics' | 'readiness' | 'databaseAvailable' | 'isUnavailable'> &
  Partial<Pick<AppOptions, 'handlers' | 'onIdempotentReplay' | 'onClose' | 'eventStream'>> & {
    /** Where every instance counts its rate limits (REDIS_URL); without it, each counts alone. */
    rateLimitStore?: SharedRateLimitStore;
  };

/** How clients are told to wait before reconnecting a dropped stream (`retry:`). */
const STREAM_RETRY_MS = 1000;

/**
 * buildApp's options: the specs, the handlers over `services`, the settings from `config`, and
 * the run-time parts (`runtime.handlers` replaces version 1's handlers, e.g. to test one missing).
 */
export function appOptions(services: Services, config: Config, { rateLimitStore, ...runtime }: AppRuntime): AppOptions {
  const handlers = createHandlers(services);
  const { redisUrl: _, ...rateLimit } = config.rateLimit;
  return {
    spec: loadSpec(),
    handlers: handlers.v1,
    v2: { spec: loadSpec(specV2Path), handlers: handlers.v2 },
    authenticate: createAuthenticator(services),
    runIdempotently: createIdempotentRunner(services),
    bodyLimitBytes: config.bodyLimitBytes,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    rateLimit: { ...rateLimit, store: rateLimitStore },
    transport: { http2: config.http2, tls: config.tls },
    pressure: config.pressure,
    eventStream: {
      heartbeatMs: config.stream.heartbeatSeconds * 1000,
      maxBufferedBytes: config.stream.maxBufferedBytes,
      retryMs: STREAM_RETRY_MS,
    },
    ...runtime,
  };
}

/** How often the database is probed during an outage: service resumes within this of its return. */
const OUTAGE_PROBE_INTERVAL_MS = 200;

export interface ServerHooks {
  /** Called once per response replayed for an Idempotency-Key (e.g. to count replays). */
  onIdempotentReplay?: (operationId: string) => void;
  /**
   * The metrics whose `database.onQuery` the ORM was opened with; without them the server makes
   * its own, and database queries go uncounted. Replays are counted in them either way.
   */
  metrics?: Metrics;
  /**
   * Where the connection that needs a session of its own (the invalidation listener) connects:
   * DATABASE_DIRECT_URL behind a pooler; by default the ORM's own URL.
   */
  sessionUrl?: string;
  /**
   * Whether this process will serve the API it builds (false: a worker alone, whose app never
   * listens). Only a public API that is served counts its rate limits in Redis (REDIS_URL).
   */
  serving?: boolean;
}

export interface AgoraServer {
  app: FastifyInstance;
  services: Services;
  metrics: Metrics;
  /** Serves /metrics; undefined when METRICS_PORT=off. Not listening yet, like `app`. */
  metricsApp: FastifyInstance | undefined;
  /** Receives cache invalidations and the live streams' wake-ups. Closed with `app`. */
  invalidations: InvalidationListener | undefined;
  /**
   * The domains' events: the durable consumers for the job queue, and where `publish` enqueues,
   * to be decided (`attach` or `withoutQueue`) before a request may publish.
   */
  events: DomainEvents;
  /** The notifications this instance sends after its writes' commits (src/persistence/notices.ts). */
  notices: Notices;
}

/** Loaded only when REDIS_URL is set: its Redis client (ioredis, about 0.9 MB of heap) is not needed otherwise. */
async function sharedRateLimitStore(url: string, log: Log, metrics: Metrics): Promise<SharedRateLimitStore> {
  const { SharedRateLimitStore } = await import('./http/rate-limit-store.ts');
  const { onChange, onUnchecked } = metrics.rateLimits.sharedStore();
  return new SharedRateLimitStore({ url, keyPrefix: RATE_LIMIT_KEY_PREFIX, log, onChange, onUnchecked });
}

export async function createServer(
  orm: Orm,
  config: Config,
  logger: FastifyServerOptions['logger'],
  hooks: ServerHooks = {},
): Promise<AgoraServer> {
  const metrics = hooks.metrics ?? createMetrics();
  metrics.database.watchPool(() => poolStats(orm));
  const log = deferredLog();
  // Made first, since it awaits its module's import: nothing is open yet should that fail. It
  // connects in start(), below; until then (and during its outages) requests go unchecked. Only
  // where the public API is served: a domain server has no rate limits, and a worker no API.
  const publicApi = (hooks.serving ?? true) && config.remote.serveDomains.length === 0;
  const rateLimitStore = publicApi && config.rateLimit.redisUrl ? await sharedRateLimitStore(config.rateLimit.redisUrl, log, metrics) : undefined;
  // Caches hold only what PostgreSQL announces changes of (see persistence/invalidations.ts); the
  // same listener wakes the live streams and holds their cap, so it runs whether caching is on or off.
  const invalidations = new InvalidationListener({
    clientUrl: hooks.sessionUrl ?? orm.config.get('clientUrl')!,
    log,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    onLiveChange: metrics.cache.setListenerUp,
    maxStalenessMs: config.cacheMaxStalenessMs,
  });
  metrics.cache.watchInvalidationLag(() => invalidations.lagSeconds, config.cacheMaxStalenessMs);
  metrics.database.watchClockOffset(() => invalidations.clockOffsetMs);
  const caching: Caching = config.cacheMaxEntries > 0
    ? { source: invalidations, maxEntries: config.cacheMaxEntries, observe: metrics.cache.onLookup, watch: metrics.cache.watch }
    : noCaching;
  const events = new DomainEvents();
  const remotes = remoteClients(config, log, metrics);
  // The notifications sent after commits (a message's streams', new jobs' wake-ups) go on the
  // listener's connection, not behind the requests waiting for one of the pool's.
  const database = createDatabase(orm, { noticesVia: (sql, params) => invalidations.query(sql, params) });
  const streams = { wakes: invalidations, slots: new StreamSlots(invalidations, config.stream.maxPerAccount) };
  const services = createDomainServices({ database, config, log, caching, streams, remotes, events });
  metrics.stream.watchOpen(() => services.stream.openCount);

  // From here on (the migrations have run), every statement has a deadline, and an outage
  // refuses requests until the database answers again.
  const availability = new DatabaseAvailability({
    clientUrl: orm.config.get('clientUrl')!,
    deadlineMs: config.databaseQueryTimeoutMs,
    checkIntervalMs: config.pressure.healthCheckIntervalMs,
    retryIntervalMs: Math.min(config.pressure.healthCheckIntervalMs, OUTAGE_PROBE_INTERVAL_MS),
    log,
    onChange: metrics.database.setUp,
  });
  metrics.database.setUp(true);
  guardQueries(orm, availability);

  let migrationsApplied = false;
  const closeParts = async () => {
    availability.close();
    rateLimitStore?.close();
    services.stream.closeAll();
    // The notifications of the last requests' commits, on the listener's connection while it is
    // open (after it, they would fall back to the pool), and before the pool closes.
    await database.notices.settled();
    await invalidations.close();
  };
  // A domain server (SERVE_DOMAINS) serves its domains' internal API instead of the public one;
  // a worker alone, none: its app only logs and closes.
  const app = config.remote.serveDomains.length > 0 ? await buildDomainServer({
    bindings: servedBindings(config.remote.serveDomains, services),
    token: config.remote.token,
    idempotency: services.idempotency,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    ready: async () => availability.available && availability.check(),
    isUnavailable: isConnectionFailure,
    retryAfterSeconds: config.pressure.retryAfterSeconds,
    onCall: metrics.internal.onCall,
    onClose: closeParts,
    streams: { heartbeatMs: config.stream.heartbeatSeconds * 1000, maxBufferedBytes: config.stream.maxBufferedBytes, onSlowClient: metrics.stream.onSlowClient },
  }) : hooks.serving === false ? await buildWorkerApp({ logger, onClose: closeParts }) : await buildApp(
    appOptions(services, config, {
      onIdempotentReplay: hooks.onIdempotentReplay,
      eventStream: {
        heartbeatMs: config.stream.heartbeatSeconds * 1000,
        maxBufferedBytes: config.stream.maxBufferedBytes,
        retryMs: STREAM_RETRY_MS,
        onEvent: metrics.stream.onEvent,
        onSlowClient: metrics.stream.onSlowClient,
      },
      logger,
      metrics: metrics.http,
      readiness: {
        // During an outage the probes are already running: no need to wait for one more.
        async database() {
          return availability.available && availability.check();
        },
        // Once applied, migrations stay applied: no need to read the table at every probe.
        async migrations() {
          migrationsApplied ||= (await pendingMigrations(orm)).length === 0;
          return migrationsApplied;
        },
        ...(rateLimitStore && { rateLimitStore: () => rateLimitStore.available }),
        ...(Object.keys(remotes).length > 0 && {
          remoteDomains: () => Object.fromEntries(Object.entries(remotes).map(([name, client]) => [name, client.available])),
        }),
      },
      rateLimitStore,
      databaseAvailable: () => availability.available,
      isUnavailable: isConnectionFailure,
      onClose: closeParts,
    }),
  );
  log.attach(app.log);
  if (config.remote.serveDomains.length > 0 && config.remote.token === undefined) {
    app.log.warn({ serves: config.remote.serveDomains }, 'no INTERNAL_API_TOKEN: the internal API answers callers on this machine only (set it, on this server and its callers, to serve other hosts)');
  }
  availability.start();
  await invalidations.start();
  await rateLimitStore?.start();

  const metricsApp = config.metricsPort === undefined
    ? undefined
    : await buildMetricsServer({ registry: metrics.registry, logger: app.log.child({ server: 'metrics' }) });
  return { app, services, metrics, metricsApp, invalidations, events, notices: database.notices };
}
