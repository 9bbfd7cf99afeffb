// Starts a real Agora server on its own database (cloned from the migrated template that
// test/run.ts prepared) and hands out SDK clients whose every response is checked against
// openapi.yaml.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { createAgoraClient, unwrap, type Account, type AgoraClient } from 'agora-sdk';
import { loadConfig } from '../../src/config.ts';
import { loggerOptions } from '../../src/http/logger.ts';
import { boot, type BootOptions } from '../../src/boot.ts';
import type { JobQueue } from '../../src/jobs/index.ts';
import type { Services } from '../../src/server.ts';
import { assertConforms } from './contract.ts';
import { readResponse, type RawResponse } from './http.ts';
import { cloneTemplate } from './postgres.ts';
import { parseMetrics, type Scrape } from './metrics.ts';

interface Tap {
  teardown(fn: () => unknown): void;
}

export type { RawResponse } from './http.ts';

export interface Agora {
  baseUrl: string;
  /** `http://127.0.0.1:port` (`https://` when TLS_CERT is set): the server without /v1. */
  origin: string;
  /** The server itself (e.g. for its address or to close it early). */
  app: FastifyInstance;
  /** `http://127.0.0.1:port/metrics`, or undefined when METRICS_PORT=0. */
  metricsUrl: string | undefined;
  /** Scrapes /metrics and parses the Prometheus text format. */
  scrape(): Promise<Scrape & { text: string }>;
  /**
   * An SDK client; every response it sees is checked against the spec. `fetch` replaces the
   * global fetch (e.g. one that speaks HTTP/2 or trusts a test certificate).
   */
  client(token?: string, fetch?: (request: Request) => Promise<Response>): AgoraClient;
  /** A request with full control over headers and body, checked against the spec too. */
  raw(method: string, path: string, init?: { headers?: Record<string, string>; body?: string }): Promise<RawResponse>;
  /** This server's database, for a connection of the test's own (e.g. to hold a lock). */
  databaseUrl: string;
  /**
   * Runs SQL against this server's database; after a change, waits until the server has
   * received the cache invalidations it caused.
   */
  sql<T extends Record<string, unknown> = Record<string, any>>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * Waits until the server has received the cache invalidations of every change committed so
   * far, its own writes' included: PostgreSQL announces a write at its commit, and the server
   * hears it a moment after it answered. A page kept after this call is not then evicted by the
   * announcement of a write made before it.
   */
  notified(): Promise<void>;
  /** Counts rows of a table, to prove what a request did or did not store. */
  count(table: string): Promise<number>;
  /** Signs up a fresh account and signs it in. */
  signUp(overrides?: Partial<{ email: string; password: string; handle: string; displayName: string }>): Promise<{
    account: Account;
    token: string;
    email: string;
    password: string;
    client: AgoraClient;
  }>;
  /** Lines the server logged. */
  logs: Record<string, any>[];
  /** The server's services, for what no endpoint triggers (e.g. purge jobs). */
  services: Services;
  /** The job queue, when started with `jobs: true`. */
  jobs: JobQueue | undefined;
  /** The operationId of every response replayed for an Idempotency-Key, in order. */
  replays: string[];
  /**
   * Runs `work` and returns the SQL statements the server ran meanwhile, the notifications it
   * sent after its commits included (run nothing else against this server at the same time).
   * Before it, waits until the server has heard the cache invalidations of every earlier commit.
   */
  statementsDuring<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }>;
}

/** A fetch that checks every response against openapi.yaml; `send` does the actual request. */
/**
 * Each response's request, kept for as long as the response is. A `Request` made with a signal
 * follows that signal only through a weak reference (undici's `new Request(input, { signal })`):
 * once the request is garbage-collected, aborting the signal no longer aborts its fetch, and a
 * stream the test "closed" stays open on the server.
 */
const requestOf = new WeakMap<Response, Request>();

export function checkedFetch(send: (request: Request) => Promise<Response> = (request) => fetch(request)): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await send(request);
    requestOf.set(response, request);
    // A stream's body lasts as long as the stream: its headers are checked here, its events by the test.
    const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    const body = streaming ? '' : await response.clone().text();
    assertConforms({ method: request.method, url: request.url, status: response.status, headers: response.headers, body });
    return response;
  };
}

let serial = 0;
export function uniqueHandle(prefix = 'user'): string {
  return `${prefix}_${process.pid.toString(36)}${(serial++).toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 30);
}

export interface StartOptions {
  /** Rewrites the database URL the server connects to (e.g. to go through a proxy). */
  routeDatabase?: (url: string) => string;
  /**
   * Start the job queue and a worker (default false: the tests run the purges themselves, and
   * durable domain events reach no consumer, so no notification is made). A test of
   * notifications starts it.
   */
  jobs?: boolean;
  /** The job queue's timings, instead of the production ones (with `jobs: true`). */
  jobTuning?: BootOptions['jobTuning'];
  /** Serve this database (another server's, already migrated) instead of a copy of the template; it is not dropped. */
  databaseUrl?: string;
}

/** A database of the test's own, cloned from the migrated template; dropped at teardown. */
export async function createTestDatabase(t: Tap): Promise<string> {
  const { url, drop } = await cloneTemplate();
  t.teardown(drop);
  return url;
}

/** The servers started on another's database (StartOptions.databaseUrl), stopped before it is dropped. */
const sharing = new Map<string, (() => Promise<void>)[]>();

export async function startAgora(t: Tap, env: Record<string, string> = {}, options: StartOptions = {}): Promise<Agora> {
  const { url, drop } = options.databaseUrl ? { url: options.databaseUrl, drop: async () => {} } : await cloneTemplate();
  const config = loadConfig({
    RATE_LIMIT_PER_MINUTE: '100000',
    SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
    SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES: '100000',
    SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR: '100000',
    // Test files run in parallel on a small machine; event-loop lag must not turn answers into
    // 503s. The tests of load shedding set their own thresholds.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // One instance: its own changes evict its caches before it answers, and `sql` waits for the
    // invalidations of changes made by hand, so no test here relies on the staleness bound. A
    // generous one keeps the caches serving when a busy machine stalls the event loop, so that
    // what tests count (cache hits, statements) does not depend on the machine's speed. The
    // bound itself is tested across instances (cluster.test.ts).
    CACHE_MAX_STALENESS_MS: '60000',
    ...env,
    DATABASE_URL: url,
  });
  let recording: string[] | undefined;
  const logs: Record<string, any>[] = [];
  const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
  const replays: string[] = [];
  const server = await boot(config, {
    logger: loggerOptions({ level: 'info', pretty: false, stream }),
    databaseUrl: options.routeDatabase ? options.routeDatabase(url) : url,
    poolMax: 5,
    // The database probe (src/persistence/availability.ts) has its own connection, outside the
    // ORM: only the requests' statements are counted here.
    onQuery: (sql) => void recording?.push(sql),
    onIdempotentReplay: (op) => void replays.push(op),
    listen: { host: '127.0.0.1', port: 0, metricsPort: 0 },
    // The template is migrated; the tests run the purges themselves, when they want them.
    migrate: false,
    jobs: options.jobs ?? false,
    ...(options.jobTuning ? { jobTuning: options.jobTuning } : {}),
  });
  const { app, services, invalidations, metricsUrl, jobs } = server;
  const { port } = app.server.address() as AddressInfo;
  const origin = `${config.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const baseUrl = `${origin}/v1`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves before its connections have closed; the `drop database ... with (force)`
  // of the teardown may then terminate one, which the pool reports as an error of an idle client.
  pool.on('error', () => {});

  if (options.databaseUrl) sharing.set(url, [...(sharing.get(url) ?? []), () => server.close()]);
  t.teardown(async () => {
    if (!options.databaseUrl) {
      await Promise.all((sharing.get(url) ?? []).map((close) => close()));
      sharing.delete(url);
    }
    await server.close();
    await pool.end();
    await drop();
  });

  const checking = checkedFetch();
  const client = (token?: string, send?: (request: Request) => Promise<Response>) =>
    createAgoraClient({ baseUrl, token, fetch: send ? checkedFetch(send) : checking });

  const agora: Agora = {
    baseUrl,
    origin,
    app,
    metricsUrl,
    databaseUrl: url,
    logs,
    services,
    jobs,
    replays,
    client,
    async statementsDuring(work) {
      // The notifications sent after earlier commits go before; those of the work's commits are
      // the work's (src/persistence/notices.ts).
      const settled = () => Promise.all([server.notices.settled(), jobs?.settled()]);
      await settled();
      // So do the cache invalidations of earlier commits: heard during the work, one would evict
      // what the work had just kept, and the next call would read it again. (A new conversation's
      // "mp:", heard after its first message had kept the participants, once made a keyed send
      // read them again in statements.test.ts, in CI on a busy machine.)
      await invalidations?.sync(30_000);
      const statements: string[] = [];
      recording = statements;
      try {
        const result = await work();
        await settled();
        return { result, statements };
      } finally {
        recording = undefined;
      }
    },
    async scrape() {
      if (!metricsUrl) throw new Error('this server has no metrics endpoint (METRICS_PORT=off)');
      const response = await fetch(metricsUrl);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text}`);
      return { text, ...parseMetrics(text) };
    },
    async raw(method, path, init = {}) {
      return readResponse(await checking(`${origin}${path}`, { method, headers: init.headers, body: init.body }));
    },
    async sql(text, params) {
      const { rows } = await pool.query(text, params);
      // A change made by hand reaches the server's caches by notification, as it would in
      // production; wait for it so that the next request sees the change, as a user would a
      // moment later.
      if (!/^\s*select\b/i.test(text)) await invalidations?.sync(30_000);
      return rows;
    },
    async notified() {
      if (!invalidations) throw new Error('this server has no invalidation listener');
      if (!(await invalidations.sync(30_000))) throw new Error('the invalidation listener could not tell that it had heard every change within 30 s');
    },
    async count(table) {
      const rows = await pool.query(`select count(*)::int as n from ${table}`);
      return rows.rows[0].n as number;
    },
    async signUp(overrides = {}) {
      const handle = overrides.handle ?? uniqueHandle();
      const email = overrides.email ?? `${handle.toLowerCase()}@example.com`;
      const password = overrides.password ?? 'correct horse battery staple';
      const anonymous = client();
      const account = await unwrap(
        anonymous.POST('/accounts', { body: { email, password, handle, displayName: overrides.displayName ?? `User ${handle}` } }),
      );
      const session = await unwrap(anonymous.POST('/sessions', { body: { email, password } }));
      return { account, token: session.token, email, password, client: client(session.token) };
    },
  };
  return agora;
}
