// Start-up: config → database (embedded unless DATABASE_URL) → migrations → app → listen.
// SIGTERM, SIGINT and SIGHUP, sent to this process or to the `npm start` that runs it (npm
// forwards the first two; when npm itself goes away, we notice), all end in one graceful
// shutdown: stop accepting, let in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS),
// then close the pool and the embedded database, and exit 0.
// A start that fails says why in one line on stderr, stops what it had started, and exits 1.
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loggerOptions } from './http/logger.ts';
import { deferredLog } from './log.ts';
import { createMetrics } from './observability/metrics.ts';
import { migrate, openDatabase, type Orm } from './persistence/db.ts';
import { startEmbeddedPostgres, takeOverSignals, type EmbeddedDatabase } from './persistence/embedded-postgres.ts';
import { createServer, type AgoraServer } from './server.ts';
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

let embedded: EmbeddedDatabase | undefined;
let orm: Orm | undefined;
let server: AgoraServer | undefined;
let purges: { stop(): Promise<void> }[] = [];
let started = false;
let stopping = false;

/** Closes whatever has been opened so far, in the reverse order of opening. */
async function closeAll(): Promise<void> {
  await Promise.all(purges.map((purge) => purge.stop()));
  await server?.app.close();
  await server?.metricsApp?.close();
  await orm?.close(true);
  await embedded?.stop();
}

async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  const log = server?.app.log;
  log?.info({ signal }, 'shutting down: no new connections; finishing the requests in flight');
  const force = setTimeout(() => {
    if (log) log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
    else console.error(`agora: shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
    process.exit(1);
  }, config.shutdownTimeoutMs);
  force.unref();
  try {
    await closeAll();
  } catch (error) {
    log?.error({ err: error }, 'shutdown failed');
    exitCode = 1;
  }
  clearTimeout(force);
  log?.info('stopped');
  process.exit(exitCode);
}

/** One line saying why the server could not start. */
function startFailure(error: unknown): string {
  const e = error as Partial<NodeJS.ErrnoException & { address: string; port: number }> | undefined;
  if (e?.syscall === 'listen' && e.code === 'EADDRINUSE') {
    return `cannot listen on ${e.address}:${e.port}: the address is already in use (EADDRINUSE); is another server running there?`;
  }
  if (e?.syscall === 'listen') return `cannot listen on ${e.address}:${e.port}: ${e.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return `cannot start: ${message.split('\n')[0]}`;
}

/** A start that fails: say why, stop what was started (the embedded database above all), exit 1. */
async function failStart(error: unknown): Promise<void> {
  if (stopping) return; // a signal interrupted the start; its shutdown ends the process
  stopping = true;
  console.error(`agora: ${startFailure(error)}`);
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  // The server, when it exists, never listened: nothing is in flight.
  await closeAll().catch(() => {});
  process.exit(1);
}

takeOverSignals(); // our shutdown stops the embedded database, after the requests in flight
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
// Under `npm start`, npm is our parent (the script `exec`s node). npm forwards SIGTERM and SIGINT
// to us, but dies of a SIGHUP (or a SIGKILL) without a word: then we are reparented, and stop.
if (process.env.npm_lifecycle_event === 'start' && process.ppid > 1) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown('parent exited');
  }, 250).unref();
}
// Whatever escaped every handler is logged once, with its stack, before the process goes down.
process.on('uncaughtException', (error) => {
  if (!started || !server) return void failStart(error);
  server.app.log.fatal({ err: error }, 'uncaught exception');
  void shutdown('uncaughtException', 1);
});
process.on('unhandledRejection', (reason) => {
  if (!started || !server) return void failStart(reason);
  server.app.log.fatal({ err: reason }, 'unhandled promise rejection');
  void shutdown('unhandledRejection', 1);
});

try {
  // The database's own log lines (the ORM's warnings, the embedded server's supervision).
  const databaseLog = deferredLog();
  if (!config.databaseUrl) {
    console.log(`agora: no DATABASE_URL; starting the embedded PostgreSQL in ${config.dataDir}/postgres`);
    embedded = await startEmbeddedPostgres({
      dataDir: `${config.dataDir}/postgres`,
      port: config.embeddedPostgresPort,
      database: 'agora',
      log: config.logLevel === 'debug' || config.logLevel === 'trace' ? (m) => console.log(`postgres: ${m}`) : undefined,
      events: databaseLog,
    });
  }
  const metrics = createMetrics();
  orm = await openDatabase({
    clientUrl: config.databaseUrl ?? embedded!.url,
    onQuery: metrics.database.onQuery,
    log: databaseLog,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
  });
  const applied = await migrate(orm, { log: databaseLog });
  server = await createServer(orm, config, loggerOptions({ level: config.logLevel, pretty: config.prettyLogs }), { metrics });
  const { app, services, metricsApp } = server;
  databaseLog.attach(app.log.child({ component: 'database' }));
  if (applied.length > 0) app.log.info({ migrations: applied }, 'applied migrations');

  // The addresses actually bound: with PORT=0 (or METRICS_PORT=0) the system picks the port.
  const address = await app.listen({ host: config.host, port: config.port });
  // Logged as "metrics at …", not "Server listening at …", which names the API's address.
  await metricsApp?.listen({ host: config.host, port: config.metricsPort!, listenTextResolver: (bound) => `metrics at ${bound}/metrics` });
  // Background work only once serving: a start that fails has nothing running to stop.
  purges = [startSessionPurge(services.sessions, app.log), startIdempotencyPurge(services.idempotency, app.log)];
  started = true;
  app.log.info({ http2: config.http2, tls: config.tls !== undefined }, `docs at ${address}/docs`);
} catch (error) {
  await failStart(error);
}
