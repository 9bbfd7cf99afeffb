// A real PgBouncer (Debian's package) in front of the test run's PostgreSQL, in transaction mode,
// for the tests and the benchmark that show Agora behind a pooler: a temporary ini and userlist
// (clients trusted, the server's password kept for PgBouncer's own logins), a free port, every database of the server reachable by its own name. PgBouncer refuses
// to run as root: as root it is started with `-u postgres`, and its files are made readable.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './postgres.ts';

export const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';

export interface PgBouncer {
  port: number;
  /** The same database URL, through PgBouncer. */
  route(databaseUrl: string): string;
  /** What it logged (stderr), for a failure's message. */
  output(): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per database and user pair (default_pool_size). */
  poolSize: number;
  /** Client connections it accepts (max_client_conn). */
  maxClients?: number;
}

export function pgbouncerAvailable(): boolean {
  return existsSync(PGBOUNCER);
}

/** Starts PgBouncer in front of the server `serverUrl` points at; resolves once it accepts connections. */
export async function startPgBouncer(serverUrl: string, options: PgBouncerOptions): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'agora-pgbouncer-'));
  chmodSync(dir, 0o755);
  const ini = join(dir, 'pgbouncer.ini');
  const userlist = join(dir, 'userlist.txt');
  // Clients are trusted; the password (the embedded server's, when there is one) is what
  // PgBouncer logs in to the server with.
  writeFileSync(userlist, `"${decodeURIComponent(server.username || 'postgres')}" "${decodeURIComponent(server.password)}"\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      // Any database name: the server's database of that name.
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      // Its admin console (SHOW POOLS, SHOW CLIENTS), for the connection counts.
      `admin_users = ${decodeURIComponent(server.username || 'postgres')}`,
      `auth_file = ${userlist}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      `max_client_conn = ${options.maxClients ?? 1000}`,
      // Server connections kept open between transactions (what the counts show).
      'server_idle_timeout = 600',
      'server_lifetime = 3600',
      'log_connections = 0',
      'log_disconnections = 0',
      'log_pooler_errors = 1',
      'stats_period = 60',
      '',
    ].join('\n'),
  );
  chmodSync(ini, 0o644);
  chmodSync(userlist, 0o644);
  const root = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, root ? ['-u', 'postgres', ini] : [ini], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Up once it accepts a TCP connection.
  for (const deadline = Date.now() + 10_000; ; ) {
    if (exited) {
      await stop();
      throw new Error(`pgbouncer exited at start-up: ${output.join('')}`);
    }
    const accepting = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (accepting) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pgbouncer did not listen within 10 s: ${output.join('')}`);
    }
    await sleep(50);
  }
  return {
    port,
    route(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    output: () => output.join(''),
    stop,
  };
}
