// A real server process with its embedded PostgreSQL, started as `npm start` starts it (through
// npm itself, or as the node command npm runs), on a data folder of the test's own: for what
// only whole processes show (signals, failed starts, a database that dies).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { START_MS } from './deadlines.ts';
import { eventually } from './locks.ts';
import { freePort } from './postgres.ts';
import { projectRoot, serverArgs, serverEnv } from './server-command.ts';

interface Tap {
  teardown(fn: () => unknown): void;
}

/** A folder for an embedded PostgreSQL, removed at teardown (after every process is gone). */
export function embeddedDataDir(t: Tap): string {
  // Under the system temp folder, which the `postgres` user can reach (when run as root).
  const parent = mkdtempSync(join(tmpdir(), 'agora-process-test-'));
  chmodSync(parent, 0o755);
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  return parent;
}

/** True while `pid` runs (a zombie waiting to be reaped does not count). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The pid in the data folder's postmaster.pid, if it names a running process. */
export function postmasterPid(dataDir: string): number | undefined {
  const file = join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
}

export interface ServerProcess {
  /** What was spawned: npm, or node itself. */
  child: ChildProcess;
  port: number;
  origin: string;
  /** Its stdout's JSON lines (other lines as `{ msg }`). */
  logs: Record<string, any>[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line `match` accepts. */
  waitForLog(what: string, match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
}

export interface SpawnOptions {
  via: 'npm' | 'node';
  dataDir: string;
  env?: Record<string, string>;
}

export async function spawnServer(t: Tap, options: SpawnOptions): Promise<ServerProcess> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...serverEnv(),
    NODE_ENV: 'production',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_PORT: 'off',
    DATA_DIR: options.dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    // On a machine busy with other work the event loop may lag, and 503s would stand in for the
    // answers these tests are about. Load shedding has its own test (health.test.ts).
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...options.env,
  };
  delete env.DATABASE_URL; // the embedded PostgreSQL, always
  // npm start without its prestart build: the test run has built dist/ already, and other test
  // files run from it meanwhile.
  const [command, args] = options.via === 'npm' ? ['npm', ['start', '--ignore-scripts', '--silent']] : [process.execPath, serverArgs()];
  const child = spawn(command, args, { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const logs: Record<string, any>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ msg: line });
    }
  });
  t.teardown(async () => {
    // Whatever a failed test left running.
    const pids = [...new Set(logs.map((l) => l.pid).filter((pid): pid is number => typeof pid === 'number'))];
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    const postgres = postmasterPid(options.dataDir);
    if (postgres !== undefined) {
      process.kill(postgres, 'SIGINT');
      await eventually('the embedded PostgreSQL to stop', () => (isRunning(postgres) ? undefined : true), 30_000).catch(() => process.kill(postgres, 'SIGKILL'));
    }
  });
  return {
    child,
    port,
    origin: `http://127.0.0.1:${port}`,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog: (what, match, timeoutMs = 60_000) =>
      eventually(what, () => {
        const line = logs.find(match);
        if (line) return line;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr}`);
        return undefined;
      }, timeoutMs),
  };
}

/** Waits until the server listens and names its node process. */
export async function whenListening(server: ServerProcess): Promise<{ nodePid: number }> {
  const line = await server.waitForLog('the server to listen', (l) => /^docs at /.test(l.msg ?? ''), START_MS);
  return { nodePid: line.pid as number };
}
