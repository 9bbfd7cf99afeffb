// Start-up: config → database (embedded unless DATABASE_URL) → migrations → app → listen.
// SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the database.
import { ConfigError, loadConfig } from './config.ts';
import { migrate, openDatabase } from './persistence/db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './persistence/embedded-postgres.ts';
import { createServer } from './server.ts';
import { startSessionPurge } from './jobs/purge-sessions.ts';
import { startIdempotencyPurge } from './jobs/purge-idempotency-keys.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`agora: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

const logger = {
  level: config.logLevel,
  redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
  ...(process.stdout.isTTY && process.env.NODE_ENV !== 'production' ? { transport: { target: 'pino-pretty' } } : {}),
};

let embedded: EmbeddedDatabase | undefined;
if (!config.databaseUrl) {
  console.log(`agora: no DATABASE_URL; starting the embedded PostgreSQL in ${config.dataDir}/postgres`);
  embedded = await startEmbeddedPostgres({
    dataDir: `${config.dataDir}/postgres`,
    port: config.embeddedPostgresPort,
    database: 'agora',
    log: config.logLevel === 'debug' || config.logLevel === 'trace' ? (m) => console.log(`postgres: ${m}`) : undefined,
  });
}
const orm = await openDatabase({ clientUrl: config.databaseUrl ?? embedded!.url });
const applied = await migrate(orm);
const { app, services } = await createServer(orm, config, logger);
if (applied.length > 0) app.log.info({ migrations: applied }, 'applied migrations');
const purges = [startSessionPurge(services.sessions, app.log), startIdempotencyPurge(services.idempotency, app.log)];

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    app.log.error('shutdown took longer than 10 s; exiting');
    process.exit(1);
  }, 10_000);
  force.unref();
  for (const purge of purges) purge.stop();
  await app.close();
  await orm.close(true);
  await embedded?.stop();
  clearTimeout(force);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

// The address actually bound: with PORT=0 the system picks the port.
const address = await app.listen({ host: config.host, port: config.port });
app.log.info(`docs at ${address}/docs`);
