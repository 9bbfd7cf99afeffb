// Several real server processes (the build `npm start` runs, as deployed) on one database, cloned from the
// migrated template or empty (they migrate it): for what only more than one instance can show, and for crashes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { assertConforms } from './contract.ts';
import { readResponse, type RawResponse } from './http.ts';
import { parseMetrics, type Scrape } from './metrics.ts';
import { START_MS } from './deadlines.ts';
import { cloneTemplate, createEmptyDatabase } from './postgres.ts';
import { serverArgs, serverEnv } from './server-command.ts';

interface Tap {
  teardown(fn: () => unknown): void;
}

export interface Instance {
  name: string;
  origin: string;
  baseUrl: string;
  process: ChildProcess;
  /** The JSON lines it logged. */
  logs: Record<string, any>[];
  exited: Promise<void>;
  alive(): boolean;
}

export type SentResponse = RawResponse;

export interface Cluster {
  instances: Instance[];
  databaseUrl: string;
  /** Starts one more instance on the same database. */
  start(name: string, env?: Record<string, string>): Promise<Instance>;
  /** A request to one instance, checked against the spec. */
  send(instance: Instance, method: string, path: string, init?: { headers?: Record<string, string>; body?: unknown; signal?: AbortSignal }): Promise<SentResponse>;
  /** A fetch that checks every response against the spec (for SDK clients). */
  checkingFetch: (request: Request) => Promise<Response>;
  sql<T = Record<string, any>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Scrapes the instance's /metrics (on the port it logged). */
  scrape(instance: Instance): Promise<Scrape>;
}

const root = new URL('../../', import.meta.url);

/**
 * The lines `instance` logged that `match`, once there is one: a server writes its log lines in
 * batches (every 200 ms at most, src/log-destination.ts), so a line about what it did just now
 * may not have come yet. Then a further batch's time, for any line that should not be there.
 */
export async function loggedLines(instance: Instance, match: (line: Record<string, any>) => boolean, timeoutMs = 5000): Promise<Record<string, any>[]> {
  const deadline = Date.now() + timeoutMs;
  while (!instance.logs.some(match) && Date.now() < deadline) await sleep(50);
  await sleep(400);
  return instance.logs.filter(match);
}

const checkingFetch = async (request: Request): Promise<Response> => {
  const response = await fetch(request);
  assertConforms({ method: request.method, url: request.url, status: response.status, headers: response.headers, body: await response.clone().text() });
  return response;
};

export interface ClusterOptions {
  /**
   * Start on an empty database instead of a copy of the migrated template: the instances,
   * started together, then migrate it themselves.
   */
  emptyDatabase?: boolean;
  /**
   * The DATABASE_URL the instances get for a database (e.g. through PgBouncer); they then get the
   * database's own URL as DATABASE_DIRECT_URL. The test's `sql` stays on the database's own URL.
   */
  route?: (databaseUrl: string) => string;
}

export async function startCluster(t: Tap, count: number, env: Record<string, string> = {}, options: ClusterOptions = {}): Promise<Cluster> {
  const { url: databaseUrl, drop } = await (options.emptyDatabase ? createEmptyDatabase() : cloneTemplate());
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 3, application_name: 'agora-test' });
  // pool.end() resolves before its connections have closed; the `drop database ... with (force)`
  // of the teardown may then terminate one, which the pool reports as an error of an idle client
  // (as test/helpers/agora.ts says of its own pool). Unhandled, it killed the test's process in
  // its teardown (test/clock-skew.test.ts, once, in a fresh-clone CI run).
  pool.on('error', () => {});
  const instances: Instance[] = [];

  t.teardown(async () => {
    await Promise.all(
      instances.map(async (instance) => {
        if (!instance.alive()) return;
        instance.process.kill('SIGTERM');
        const timer = setTimeout(() => instance.process.kill('SIGKILL'), 5000);
        await instance.exited;
        clearTimeout(timer);
      }),
    );
    await pool.end();
    await drop();
  });

  async function start(name: string, extra: Record<string, string> = {}): Promise<Instance> {
    const child = spawn(process.execPath, serverArgs(), {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...serverEnv(),
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        METRICS_PORT: '0', // several instances on one machine: each its own metrics port
        LOG_LEVEL: 'info',
        DATABASE_URL: options.route ? options.route(databaseUrl) : databaseUrl,
        ...(options.route && { DATABASE_DIRECT_URL: databaseUrl }),
        RATE_LIMIT_PER_MINUTE: '1000000',
        SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
        SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES: '1000000',
        SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR: '1000000',
        // Three instances, their clients and PostgreSQL share two cores: under a storm the event
        // loop lags past the shedding threshold, and 503s would stand in for the answers these
        // tests are about. Load shedding has its own test (health.test.ts).
        MAX_EVENT_LOOP_DELAY_MS: '0',
        ...env,
        ...extra,
      },
    });
    let running = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => ((running = false), resolve())));
    const logs: Record<string, any>[] = [];
    const stderr: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const listening = new Promise<string>((resolve, reject) => {
      // Generous: instances started together on an empty database wait for the one migrating it,
      // on a machine that may be busy with other work.
      const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_MS / 1000} s: ${stderr.join('')}`)), START_MS);
      // Cleared, or an instance that exits at start-up (as some tests want) would keep the test's
      // process alive for the whole START_MS after its last test (180 s of a test slot).
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${name} exited at start-up: ${stderr.join('')}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let entry: Record<string, any>;
        try {
          entry = JSON.parse(line);
        } catch {
          return;
        }
        logs.push(entry);
        const match = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(entry.msg ?? '');
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    const origin = await listening;
    const instance: Instance = { name, origin, baseUrl: `${origin}/v1`, process: child, logs, exited, alive: () => running };
    instances.push(instance);
    return instance;
  }

  await Promise.all(Array.from({ length: count }, (_, i) => start(`instance-${i}`)));
  instances.sort((a, b) => a.name.localeCompare(b.name));

  return {
    instances,
    databaseUrl,
    start,
    checkingFetch,
    async send(instance, method, path, init = {}) {
      const response = await checkingFetch(
        new Request(`${instance.origin}${path}`, {
          method,
          headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: init.signal,
        }),
      );
      return readResponse(response);
    },
    async sql(text, params) {
      return (await pool.query(text, params)).rows;
    },
    async scrape(instance) {
      // Logged once the metrics server listens, just after the API ("metrics at …/metrics").
      const deadline = Date.now() + 20_000;
      let url: string | undefined;
      while (!(url = instance.logs.map((l) => /^metrics at (http:\S+)$/.exec(l.msg ?? '')?.[1]).find(Boolean))) {
        if (Date.now() > deadline) throw new Error(`${instance.name} logged no metrics address`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const response = await fetch(url);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${instance.name}: GET /metrics answered ${response.status}: ${text}`);
      return parseMetrics(text);
    },
  };
}
