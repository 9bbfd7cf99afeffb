// Start-up: config → database (embedded unless DATABASE_URL) → migrations → app → listen.
// SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS),
// then close the pool and the embedded database, and exit 0.
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loggerOptions } from './http/logger.ts';
import { deferredLog } from './log.ts';
import { createMetrics } from './observability/metrics.ts';
import { migrate, openDatabase } from './persistence/db.ts';
import { startEmbeddedPostgres, takeOverSignals, type EmbeddedDatabase } from './persistence/embedded-postgres.ts';
import { createServer } from './server.ts';
import { startSessionPurge } from './jobs/purge-sessions.ts';
import { startIdempotencyPurge } from './jobs/purge-idempotency-keys.ts';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`agora: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

// The database's own log lines (the ORM's warnings, the embedded server's supervision).
const ormLog = deferredLog();
let embedded: EmbeddedDatabase | undefined;
if (!config.databaseUrl) {
  console.log(`agora: no DATABASE_URL; starting the embedded PostgreSQL in ${config.dataDir}/postgres`);
  embedded = await startEmbeddedPostgres({
    dataDir: `${config.dataDir}/postgres`,
    port: config.embeddedPostgresPort,
    database: 'agora',
    log: config.logLevel === 'debug' || config.logLevel === 'trace' ? (m) => console.log(`postgres: ${m}`) : undefined,
    events: ormLog,
  });
}
const metrics = createMetrics();
const orm = await openDatabase({
  clientUrl: config.databaseUrl ?? embedded!.url,
  onQuery: metrics.database.onQuery,
  log: ormLog,
  connectTimeoutMs: config.databaseConnectTimeoutMs,
});
const applied = await migrate(orm);
const { app, services, metricsApp } = await createServer(orm, config, loggerOptions({ level: config.logLevel, pretty: config.prettyLogs }), { metrics });
ormLog.attach(app.log.child({ component: 'database' }));
if (applied.length > 0) app.log.info({ migrations: applied }, 'applied migrations');
const purges = [startSessionPurge(services.sessions, app.log), startIdempotencyPurge(services.idempotency, app.log)];

let stopping = false;
async function shutdown(signal: string, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down: no new connections; finishing the requests in flight');
  const force = setTimeout(() => {
    app.log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
    process.exit(1);
  }, config.shutdownTimeoutMs);
  force.unref();
  for (const purge of purges) purge.stop();
  await app.close();
  await metricsApp?.close();
  await orm.close(true);
  await embedded?.stop();
  clearTimeout(force);
  app.log.info('stopped');
  process.exit(exitCode);
}
takeOverSignals(); // our shutdown stops the embedded database, after the requests in flight
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Whatever escaped every handler is logged once, with its stack, before the process goes down.
process.on('uncaughtException', (error) => {
  app.log.fatal({ err: error }, 'uncaught exception');
  void shutdown('uncaughtException', 1);
});
process.on('unhandledRejection', (reason) => {
  app.log.fatal({ err: reason }, 'unhandled promise rejection');
  void shutdown('unhandledRejection', 1);
});

// The addresses actually bound: with PORT=0 (or METRICS_PORT=0) the system picks the port.
const address = await app.listen({ host: config.host, port: config.port });
// Logged as "metrics at …", not "Server listening at …", which names the API's address.
await metricsApp?.listen({ host: config.host, port: config.metricsPort!, listenTextResolver: (bound) => `metrics at ${bound}/metrics` });
app.log.info({ http2: config.http2, tls: config.tls !== undefined }, `docs at ${address}/docs`);
