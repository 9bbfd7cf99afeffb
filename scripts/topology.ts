// `npm run topology`: the deployment of deploy/compose.yaml as local processes on 127.0.0.1, and
// traffic through it. PostgreSQL (the machine's, or DATABASE_URL's server: a fresh database is
// created, and dropped at the end), PgBouncer in transaction mode in front of it (a generated ini
// in a temporary folder), Redis (REDIS_URL, default 127.0.0.1:6379) for the shared rate limits,
// the social domain in a server of its own (SERVE_DOMAINS=social), three API instances with
// WORKER=off on SOCIAL_SERVICE_URL, one worker (dist/worker.js), and a round-robin load balancer
// in this script. Then: sign-ups, friend requests, posts, feeds, a keyed retry storm across the
// instances, a sign-out seen by every instance, one rate-limit budget shared by the three, and
// the social server stopped (503s with Retry-After) and started again (served again).
// It prints a summary (requests, statuses, spread over the instances, database connections) and
// exits 1 on any 5xx, lost or duplicated write, or failed check. `--keep` leaves it all running
// (Ctrl-C stops it and drops the database).
//
//   npm run build && node scripts/topology.ts [--keep] [--users N] [--instances N] [--port P]
//     [--rate-limit N] [--no-social-apart] [--no-pgbouncer]
//
// `--no-social-apart` runs the social domain inside the API instances; `--no-pgbouncer` connects
// every process straight to PostgreSQL. They exist for builds without SERVE_DOMAINS or
// DATABASE_DIRECT_URL; without them the script checks that the build knows those settings.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort } from '../test/helpers/postgres.ts';
import { serverArgs, serverEnv } from '../test/helpers/server-command.ts';

const root = resolve(import.meta.dirname, '..');

// The settings of the inter-server calls, in one place: the names the social domain's server and
// its stub read. (Aligned with the server's configuration table in README.md.)
const INTER_SERVER = {
  serveDomains: 'SERVE_DOMAINS',
  socialServiceUrl: 'SOCIAL_SERVICE_URL',
  directDatabaseUrl: 'DATABASE_DIRECT_URL',
  /** A shared secret the domain server requires of its callers (sent by the stub). */
  token: { name: 'INTERNAL_API_TOKEN', value: randomUUID() },
  /** The counter of outbound requests an API instance makes to the domain servers. */
  outboundMetric: 'agora_outbound_requests_total',
  /** Extra settings for every process (e.g. a per-call deadline), as NAME=value. */
  extra: {} as Record<string, string>,
};

const { values: options } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    users: { type: 'string', default: '12' },
    instances: { type: 'string', default: '3' },
    port: { type: 'string', default: '0' },
    'rate-limit': { type: 'string', default: '60' },
    'storm-keys': { type: 'string', default: '30' },
    'no-social-apart': { type: 'boolean', default: false },
    'no-pgbouncer': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (options.help) {
  console.log(readFileSync(import.meta.filename, 'utf8').split('\nimport ')[0]!.replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const positive = (name: string, value: string, max: number) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) fail(`--${name} must be an integer from 1 to ${max}, got "${value}"`);
  return n;
};
const USERS = positive('users', options.users!, 200);
const INSTANCES = positive('instances', options.instances!, 8);
const RATE_LIMIT = positive('rate-limit', options['rate-limit']!, 10_000);
const STORM_KEYS = positive('storm-keys', options['storm-keys']!, 500);
const LB_PORT = Number(options.port);
if (!Number.isInteger(LB_PORT) || LB_PORT < 0 || LB_PORT > 65535) fail(`--port must be a port number, got "${options.port}"`);
const SOCIAL_APART = !options['no-social-apart'];
const PGBOUNCER = !options['no-pgbouncer'];
const STORM_SENDS = 4;
/** The API instances' CACHE_MAX_STALENESS_MS: how long a sign-out may go unseen elsewhere. */
const STALENESS_MS = 1000;
const PASSWORD = 'correct horse battery staple';
const run = randomUUID().slice(0, 6);

function fail(message: string): never {
  console.error(`topology: ${message}`);
  process.exit(2);
}
const say = (message: string) => console.log(`topology: ${message}`);

// ---------------------------------------------------------------- the build knows the settings?

const distMain = join(root, 'dist/main.js');
if (!existsSync(distMain)) fail('dist/main.js is missing: run `npm run build` first');
/** Whether the built server reads `name` from its environment. */
function buildKnows(name: string): boolean {
  const config = join(root, 'dist/config.js');
  return existsSync(config) && readFileSync(config, 'utf8').includes(name);
}
if (SOCIAL_APART && !(buildKnows(INTER_SERVER.serveDomains) && buildKnows(INTER_SERVER.socialServiceUrl))) {
  fail(`this build does not know ${INTER_SERVER.serveDomains} / ${INTER_SERVER.socialServiceUrl} (dist/config.js): it cannot serve the social domain apart; run with --no-social-apart`);
}
if (PGBOUNCER && !buildKnows(INTER_SERVER.directDatabaseUrl)) {
  fail(`this build does not know ${INTER_SERVER.directDatabaseUrl} (dist/config.js): behind PgBouncer in transaction mode it would lose LISTEN and the migrations' lock; run with --no-pgbouncer`);
}
// As `npm start` runs Node: its environment settings (MALLOC_ARENA_MAX) and flags (without its entry point).
const startEnv = serverEnv();
const nodeFlags = serverArgs().slice(0, -1);

// ---------------------------------------------------------------- clean-up, whatever happens

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`topology: clean-up: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping`);
    void cleanUp().then(() => process.exit(process.exitCode ?? 130));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- PostgreSQL: a fresh database

const adminUrl = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
const database = `agora_topology_${run}`;
const directUrl = new URL(adminUrl);
directUrl.pathname = `/${database}`;
const admin = new pg.Client({ connectionString: adminUrl.href });
try {
  await admin.connect();
} catch (error) {
  fail(`cannot reach PostgreSQL at ${adminUrl.host} (DATABASE_URL): ${(error as Error).message}`);
}
await admin.query(`create database "${database}"`);
cleanups.push(async () => {
  await admin.query(`drop database if exists "${database}" with (force)`);
  await admin.end();
});
say(`PostgreSQL: database ${database} on ${adminUrl.host}`);

// ---------------------------------------------------------------- Redis

const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000 });
try {
  await redis.connect();
  await redis.ping();
} catch (error) {
  await cleanUp();
  fail(`cannot reach Redis at ${redisUrl} (REDIS_URL): ${(error as Error).message}`);
}
cleanups.push(() => redis.disconnect());
say(`Redis: ${redisUrl}`);

// ---------------------------------------------------------------- PgBouncer, transaction mode

let pooledUrl = directUrl;
let bouncerAdminUrl: URL | undefined;
if (PGBOUNCER) {
  const dir = mkdtempSync(join(tmpdir(), 'agora-pgbouncer-'));
  const port = await freePort();
  const user = decodeURIComponent(adminUrl.username || 'postgres');
  const password = decodeURIComponent(adminUrl.password);
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password.replaceAll('"', '""')}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${adminUrl.hostname} port=${adminUrl.port || 5432} dbname=${database} user=${user}${password ? ` password=${password}` : ''}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      `auth_type = ${password ? 'plain' : 'trust'}`,
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `admin_users = ${user}`,
      'pool_mode = transaction',
      // Three API instances, a worker and the social server, each with a pool of its own (10 by
      // default), share these: the point of the pooler.
      'default_pool_size = 10',
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root: then it runs as postgres, who must read the folder.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const owner = statSync('/var/lib/postgresql', { throwIfNoEntry: false });
    if (!owner) fail('running as root, PgBouncer needs the postgres user (/var/lib/postgresql is missing)');
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, file), owner.uid, owner.gid);
    chmodSync(dir, 0o700);
  }
  const bouncer = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  bouncer.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  bouncer.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const bouncerExited = new Promise<void>((resolve) => bouncer.once('exit', () => resolve()));
  bouncer.once('error', (error) => output.push(String(error)));
  cleanups.push(async () => {
    if (bouncer.exitCode === null && bouncer.signalCode === null) {
      bouncer.kill('SIGINT');
      await Promise.race([bouncerExited, sleep(5000)]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  pooledUrl = new URL(directUrl);
  pooledUrl.host = `127.0.0.1:${port}`;
  bouncerAdminUrl = new URL(pooledUrl);
  bouncerAdminUrl.pathname = '/pgbouncer';
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new pg.Client({ connectionString: pooledUrl.href });
    try {
      await probe.connect();
      await probe.query('select 1');
      await probe.end();
      break;
    } catch (error) {
      await probe.end().catch(() => {});
      const log = existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '';
      if (bouncer.exitCode !== null || Date.now() > deadline) {
        await cleanUp();
        fail(`PgBouncer did not start: ${(error as Error).message}\n${output.join('')}${log}`);
      }
      await sleep(100);
    }
  }
  say(`PgBouncer: transaction mode on 127.0.0.1:${port} (config ${join(dir, 'pgbouncer.ini')})`);
}

// ---------------------------------------------------------------- the Agora processes

interface Proc {
  name: string;
  role: 'api' | 'worker' | 'social';
  child: ChildProcess;
  logs: Record<string, any>[];
  stderr: string[];
  origin?: string;
  metrics?: string;
  exited: Promise<void>;
}
const procs: Proc[] = [];
cleanups.push(async () => {
  await Promise.all(
    procs.map(async (proc) => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 12_000);
      await proc.exited;
      clearTimeout(timer);
    }),
  );
});

const socialPort = await freePort();
const socialUrl = `http://127.0.0.1:${socialPort}`;
const common: Record<string, string> = {
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  LOG_FORMAT: 'json',
  HOST: '127.0.0.1',
  DATABASE_URL: pooledUrl.href,
  ...(PGBOUNCER ? { [INTER_SERVER.directDatabaseUrl]: directUrl.href } : {}),
  ...(SOCIAL_APART ? { [INTER_SERVER.token.name]: INTER_SERVER.token.value } : {}),
  ...INTER_SERVER.extra,
};
const client: Record<string, string> = {
  ...(SOCIAL_APART ? { [INTER_SERVER.socialServiceUrl]: socialUrl } : {}),
  REDIS_URL: redisUrl,
  TRUST_PROXY: 'true',
  RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
  // Two cores shared by every process here and this script: the event loop lags past the
  // default threshold under the storm, and 503s would stand in for the answers checked here.
  MAX_EVENT_LOOP_DELAY_MS: '0',
  CACHE_MAX_STALENESS_MS: String(STALENESS_MS),
};

async function startProc(name: string, role: Proc['role'], env: Record<string, string>): Promise<Proc> {
  const entry = role === 'worker' ? 'dist/worker.js' : 'dist/main.js';
  const child = spawn(process.execPath, [...nodeFlags, entry], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...startEnv, PATH: process.env.PATH, ...common, METRICS_PORT: '0', ...env },
  });
  const proc: Proc = { name, role, child, logs: [], stderr: [], exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  procs.push(proc);
  child.stderr!.on('data', (chunk: Buffer) => proc.stderr.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 90 s: ${proc.stderr.join('')}`)), 90_000);
    void proc.exited.then(() => reject(new Error(`${name} exited at start-up (code ${child.exitCode}): ${proc.stderr.join('')}`)));
    lines.on('line', (line) => {
      let entry: Record<string, any>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      proc.logs.push(entry);
      const api = /^Server listening at (http:\/\/\S+)$/.exec(entry.msg ?? '');
      if (api) proc.origin = api[1];
      const metrics = /^metrics at (http:\/\/\S+)$/.exec(entry.msg ?? '');
      if (metrics) proc.metrics = metrics[1];
      // The API (when it has one) listens first, then its metrics.
      if (proc.metrics && (role === 'worker' || proc.origin)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return proc;
}

const api: Proc[] = [];
try {
  // The first instance migrates the empty database (under the migrations' lock, on the direct
  // connection); the others then find nothing to do.
  api.push(await startProc('api-0', 'api', { ...client, PORT: '0', WORKER: 'off' }));
  const rest = await Promise.all([
    ...Array.from({ length: INSTANCES - 1 }, (_, i) => startProc(`api-${i + 1}`, 'api', { ...client, PORT: '0', WORKER: 'off' })),
    startProc('worker', 'worker', { ...(SOCIAL_APART ? { [INTER_SERVER.socialServiceUrl]: socialUrl } : {}) }),
    ...(SOCIAL_APART ? [startProc('social', 'social', { [INTER_SERVER.serveDomains]: 'social', PORT: String(socialPort), WORKER: 'off' })] : []),
  ]);
  api.push(...rest.filter((p) => p.role === 'api'));
} catch (error) {
  console.error(`topology: ${(error as Error).message}`);
  await cleanUp();
  process.exit(1);
}
for (const proc of procs) say(`${proc.name} (${proc.role}): ${proc.origin ?? 'no API'}, metrics ${proc.metrics}`);

// ---------------------------------------------------------------- the load balancer

const spread = new Map<string, number>(api.map((p) => [p.name, 0]));
let nextUpstream = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const balancer = http.createServer((request, response) => {
  const upstream = api[nextUpstream++ % api.length]!;
  spread.set(upstream.name, spread.get(upstream.name)! + 1);
  const target = new URL(upstream.origin!);
  const forwarded = request.headers['x-forwarded-for'] ?? request.socket.remoteAddress ?? '';
  const proxied = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, 'x-forwarded-for': forwarded, 'x-upstream': upstream.name },
      agent,
    },
    (answer) => {
      response.writeHead(answer.statusCode!, { ...answer.headers, 'x-upstream': upstream.name });
      answer.pipe(response);
    },
  );
  proxied.on('error', () => {
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`${upstream.name} did not answer\n`);
  });
  request.on('aborted', () => proxied.destroy());
  request.pipe(proxied);
});
await new Promise<void>((resolve) => balancer.listen(LB_PORT, '127.0.0.1', resolve));
cleanups.push(() => {
  agent.destroy();
  return new Promise<void>((resolve) => balancer.close(() => resolve()));
});
const lb = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;
say(`load balancer: ${lb} (round robin over ${api.map((p) => p.name).join(', ')})`);

// ---------------------------------------------------------------- traffic

const statuses = new Map<number, number>();
const failures: string[] = [];
let requests = 0;
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

interface Answer {
  status: number;
  headers: Headers;
  json: any;
  upstream: string;
}
let outageAnswers = 0;
async function send(method: string, path: string, init: { token?: string; body?: unknown; key?: string; from?: string; origin?: string; outage?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = path.startsWith('/v1/accounts/') && method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.key) headers['idempotency-key'] = init.key;
  if (init.from) headers['x-forwarded-for'] = init.from;
  const response = await fetch(`${init.origin ?? lb}${path}`, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  requests++;
  // A 503 while a domain server is stopped on purpose is the answer wanted, counted apart.
  if (init.outage && response.status === 503) outageAnswers++;
  else statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  if (response.status >= 500 && !(init.outage && response.status === 503)) failures.push(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  const upstream = response.headers.get('x-upstream') ?? api.find((p) => p.origin === init.origin)?.name ?? '';
  return { status: response.status, headers: response.headers, json, upstream };
}
async function pool<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}
// Every user comes from an address of its own (the balancer forwards X-Forwarded-For, the
// instances trust it): the rate limits count each apart, as they would real clients.
const net = `10.${parseInt(run.slice(0, 2), 16)}.${parseInt(run.slice(2, 4), 16)}`;
// The storm's and the sign-out checks' requests come from a /24 of their own, one address per
// key or poll: their retries must not eat into a user's budget.
const spare = `10.${parseInt(run.slice(0, 2), 16)}.${(parseInt(run.slice(2, 4), 16) + 1) % 256}`;
let spareHost = 0;
const spareAddress = () => `${spare}.${(spareHost++ % 254) + 1}`;

interface User {
  index: number;
  id: string;
  token: string;
  from: string;
  posts: string[];
}
const users: User[] = [];
const started = Date.now();
const phases: string[] = [];
let details: string[] = [];
const phase = async (name: string, work: () => Promise<void>) => {
  const t0 = Date.now();
  details = [];
  const before = failures.length;
  try {
    await work();
  } catch (error) {
    failures.push(`${name}: ${(error as Error).stack ?? error}`);
  }
  phases.push(`${name}: ${Date.now() - t0} ms${failures.length > before ? `, ${failures.length - before} failure(s)` : ''}`, ...details.map((d) => `  ${d}`));
};

await phase('sign-ups and sign-ins', async () => {
  await pool(
    Array.from({ length: USERS }, (_, i) => i),
    4,
    async (i) => {
      const handle = `topo${i}_${run}`;
      const from = `${net}.${i + 1}`;
      const email = `${handle}@example.com`;
      const created = await send('POST', '/v1/accounts', { from, key: randomUUID(), body: { email, password: PASSWORD, handle, displayName: `Topology ${i}` } });
      check(created.status === 201, `sign-up ${i}: ${created.status}`);
      const session = await send('POST', '/v1/sessions', { from, body: { email, password: PASSWORD } });
      check(session.status === 201 || session.status === 200, `sign-in ${i}: ${session.status}`);
      if (created.status === 201 && session.json?.token) users[i] = { index: i, id: created.json.id, token: session.json.token, from, posts: [] };
    },
  );
  check(users.filter(Boolean).length === USERS, `${USERS - users.filter(Boolean).length} user(s) could not sign up and in`);
});
const ring = users.filter(Boolean);
const friendsOf = (u: User) => (ring.length < 2 ? [] : ring.length === 2 ? [ring[1 - ring.indexOf(u)]!] : [ring[(ring.indexOf(u) + 1) % ring.length]!, ring[(ring.indexOf(u) + ring.length - 1) % ring.length]!]);

await phase('friend requests (a ring: each befriends the next)', async () => {
  if (ring.length < 2) return;
  const pairs = ring.length === 2 ? [[ring[0]!, ring[1]!]] : ring.map((u, i) => [u, ring[(i + 1) % ring.length]!]);
  await pool(pairs, 4, async ([from, to]) => {
    const sent = await send('POST', '/v1/friend-requests', { token: from!.token, from: from!.from, key: randomUUID(), body: { accountId: to!.id } });
    check(sent.status === 201, `friend request ${from!.index}→${to!.index}: ${sent.status} ${JSON.stringify(sent.json)}`);
    const accepted = await send('PUT', `/v1/accounts/${to!.id}/friends/${from!.id}`, { token: to!.token, from: to!.from });
    check(accepted.status === 201 || accepted.status === 200, `accept ${from!.index}→${to!.index}: ${accepted.status} ${JSON.stringify(accepted.json)}`);
  });
  for (const u of ring) {
    const friends = await send('GET', `/v1/accounts/${u.id}/friends?limit=50`, { token: u.token, from: u.from });
    const ids = new Set((friends.json?.data ?? []).map((f: any) => f.id ?? f.account?.id ?? f.friendId));
    check(friends.status === 200 && friendsOf(u).every((f) => ids.has(f.id)) && ids.size === friendsOf(u).length, `friends of ${u.index}: ${friends.status} ${JSON.stringify(friends.json)?.slice(0, 300)}`);
  }
});

const POSTS_EACH = 3;
await phase(`posts (${POSTS_EACH} each, keyed)`, async () => {
  await pool(
    ring.flatMap((u) => Array.from({ length: POSTS_EACH }, (_, j) => ({ u, j }))),
    6,
    async ({ u, j }) => {
      const created = await send('POST', '/v1/posts', { token: u.token, from: u.from, key: randomUUID(), body: { text: `post ${j} of ${u.index} (${run})` } });
      check(created.status === 201, `post ${j} of ${u.index}: ${created.status}`);
      if (created.status === 201) u.posts.push(created.json.id);
    },
  );
});

await phase('feeds (own and friends\' posts, read through every instance)', async () => {
  await pool(ring, 4, async (u) => {
    const expected = new Set([u, ...friendsOf(u)].flatMap((f) => f.posts));
    for (const instance of api) {
      const feed = await send('GET', '/v1/feed?limit=50', { token: u.token, from: u.from, origin: instance.origin });
      const ids: string[] = (feed.json?.data ?? []).map((p: any) => p.id);
      check(feed.status === 200, `feed of ${u.index} via ${feed.upstream}: ${feed.status}`);
      check(ids.length === new Set(ids).size, `feed of ${u.index} via ${feed.upstream}: a post listed twice`);
      check(ids.length === expected.size && ids.every((id) => expected.has(id)), `feed of ${u.index} via ${feed.upstream}: ${ids.length} posts, expected ${expected.size}`);
    }
  });
});

await phase(`retry storm (${STORM_KEYS} keyed posts, each sent ${STORM_SENDS} times at once over the balancer)`, async () => {
  const creations = Array.from({ length: STORM_KEYS }, (_, i) => ({ key: randomUUID(), u: ring[i % ring.length]!, text: `storm ${i} (${run})` }));
  await pool(creations, 10, async ({ key, u, text }) => {
    const from = spareAddress();
    const answers = await Promise.all(Array.from({ length: STORM_SENDS }, () => send('POST', '/v1/posts', { token: u.token, from, key, body: { text } })));
    const settled: Answer[] = answers.filter((a) => a.status === 201);
    for (const a of answers) {
      const inFlight = a.status === 409 && a.json?.type === 'urn:agora:problem:idempotency-in-flight' && a.headers.get('retry-after') !== null;
      check(a.status === 201 || inFlight, `storm ${text}: unexpected ${a.status} ${JSON.stringify(a.json)?.slice(0, 200)}`);
    }
    // Each send that met "in flight" is retried until it hears the answer.
    for (let attempt = 0; settled.length < answers.length; attempt++) {
      if (attempt > 50) {
        failures.push(`storm ${text}: no answer after 50 retries`);
        break;
      }
      const again = await send('POST', '/v1/posts', { token: u.token, from, key, body: { text } });
      if (again.status === 201) settled.push(again);
      else await sleep(200);
    }
    const ids = new Set(settled.map((a) => a.json.id));
    const originals = settled.filter((a) => a.headers.get('idempotent-replayed') !== 'true').length;
    check(ids.size === 1 && originals === 1, `storm ${text}: ${ids.size} distinct posts, ${originals} originals (want 1 and 1)`);
  });
  const c = new pg.Client({ connectionString: directUrl.href });
  await c.connect();
  const stored = (await c.query(`select count(*)::int as n, count(distinct text)::int as d from posts.post where text like $1`, [`storm % (${run})`]).finally(() => c.end())).rows[0];
  check(stored.n === STORM_KEYS && stored.d === STORM_KEYS, `storm: ${stored.n} posts stored (${stored.d} distinct), expected ${STORM_KEYS}`);
});

await phase('no write lost or duplicated', async () => {
  const c = new pg.Client({ connectionString: directUrl.href });
  await c.connect();
  try {
    const accounts = (await c.query(`select count(*)::int as n from accounts.account where handle like $1`, [`topo%\\_${run}`])).rows[0].n;
    check(accounts === ring.length, `accounts: ${accounts} stored, ${ring.length} signed up`);
    const posts = (await c.query(`select count(*)::int as n from posts.post where text like $1`, [`post % (${run})`])).rows[0].n;
    const made = ring.reduce((n, u) => n + u.posts.length, 0);
    check(posts === made && made === ring.length * POSTS_EACH, `posts: ${posts} stored, ${made} created, ${ring.length * POSTS_EACH} sent`);
    const friendships = (await c.query(`select count(*)::int as n from social.friendship`)).rows[0].n;
    const pairs = ring.length < 2 ? 0 : ring.length === 2 ? 1 : ring.length;
    // One row per direction, or one per pair: either way a fixed multiple of the pairs.
    check(friendships === pairs || friendships === 2 * pairs, `friendships: ${friendships} rows for ${pairs} pairs`);
  } finally {
    await c.end();
  }
});

await phase('sign-out through one instance, refused by every instance', async () => {
  const u = ring[0];
  if (!u) return;
  // Every instance has the session in its cache: twice on each, the second may be a hit.
  for (const instance of [...api, ...api]) {
    const me = await send('GET', '/v1/sessions/me', { token: u.token, from: spareAddress(), origin: instance.origin });
    check(me.status === 200, `before the sign-out, on ${instance.name}: ${me.status}`);
  }
  const out = await send('DELETE', '/v1/sessions/me', { token: u.token, from: u.from });
  const answered = Date.now();
  check(out.status === 204, `sign-out: ${out.status}`);
  const where = api.find((p) => p.name === out.upstream);
  if (where) {
    const there = await send('GET', '/v1/sessions/me', { token: u.token, from: spareAddress(), origin: where.origin });
    check(there.status === 401, `the signed-out token on ${where.name}, where it signed out: ${there.status}, not refused at once`);
  }
  // Elsewhere: within the staleness bound (at once, give or take a notification's trip, while the
  // instances LISTEN for invalidations on their direct connection). Each instance is asked until
  // it refuses or the bound has passed; once it has, every instance must refuse.
  const seen: string[] = [];
  for (const instance of api) {
    let status = 0;
    while ((status = (await send('GET', '/v1/sessions/me', { token: u.token, from: spareAddress(), origin: instance.origin })).status) === 200 && Date.now() - answered < STALENESS_MS) await sleep(20);
    if (status === 200) {
      await sleep(Math.max(0, answered + STALENESS_MS - Date.now()));
      status = (await send('GET', '/v1/sessions/me', { token: u.token, from: spareAddress(), origin: instance.origin })).status;
    }
    check(status === 401, `the signed-out token on ${instance.name} once the staleness bound (${STALENESS_MS} ms) has passed: ${status}`);
    seen.push(`${instance.name} ${Date.now() - answered} ms`);
  }
  details.push(`refused within: ${seen.join(', ')} (bound ${STALENESS_MS} ms; signed out through ${out.upstream})`);
});

await phase('every API instance listens for cache invalidations', async () => {
  for (const instance of api) {
    const text = await (await fetch(instance.metrics!)).text();
    const up = /^agora_cache_invalidation_listener_up (\S+)$/m.exec(text)?.[1];
    check(up === '1', `${instance.name}: agora_cache_invalidation_listener_up is ${up}`);
  }
});

await phase(`one rate-limit budget across the instances (${3 * RATE_LIMIT} requests, limit ${RATE_LIMIT} a minute)`, async () => {
  const from = `${net}.250`;
  const answers: Answer[] = [];
  await pool(
    Array.from({ length: 3 * RATE_LIMIT }, (_, i) => i),
    6,
    async () => {
      answers.push(await send('GET', '/v1/accounts?limit=1', { from }));
    },
  );
  const admitted = answers.filter((a) => a.status === 200).length;
  const limited = answers.filter((a) => a.status === 429);
  check(admitted === RATE_LIMIT, `rate limit: ${admitted} of ${answers.length} admitted, expected ${RATE_LIMIT}`);
  check(admitted + limited.length === answers.length, `rate limit: statuses ${[...new Set(answers.map((a) => a.status))].join(', ')}`);
  check(limited.every((a) => Number(a.headers.get('retry-after')) > 0), 'rate limit: a 429 without Retry-After');
  const over = new Set(limited.map((a) => a.upstream));
  check(over.size === api.length || api.length === 1, `rate limit: 429s came from ${[...over].join(', ')}, not every instance`);
  details.push(`${admitted} admitted, ${limited.length} refused (429) by ${[...over].sort().join(', ')}`);
  // This run's keys, and no others (they would expire within the minute anyway).
  const keys = await redis.keys(`*:${from}`);
  if (keys.length > 0) await redis.del(...keys);
});

await phase('calls between servers are counted', async () => {
  let calls = 0;
  for (const instance of api) {
    const text = await (await fetch(instance.metrics!)).text();
    for (const match of text.matchAll(new RegExp(`^${INTER_SERVER.outboundMetric}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) calls += Number(match[1]);
  }
  details.push(`${INTER_SERVER.outboundMetric}: ${calls} across the API instances`);
  if (SOCIAL_APART) check(calls > 0, `no outbound request counted in ${INTER_SERVER.outboundMetric}, with the social domain apart`);
});

let outage: { from: number; to: number } | undefined;
if (SOCIAL_APART) {
  await phase('the social server stopped: 503 with Retry-After from every instance, then served again once it is back', async () => {
    const social = procs.find((p) => p.role === 'social')!;
    // ring[0] signed out above.
    const u = ring[1] ?? ring[0]!;
    const friends = (instance: Proc) => send('GET', `/v1/accounts/${u.id}/friends?limit=50`, { token: u.token, from: spareAddress(), origin: instance.origin, outage: true });
    outage = { from: Date.now(), to: Infinity };
    social.child.kill('SIGTERM');
    await social.exited;
    procs.splice(procs.indexOf(social), 1);
    for (const instance of api) {
      const t0 = Date.now();
      const answer = await friends(instance);
      const ms = Date.now() - t0;
      check(answer.status === 503 && Number(answer.headers.get('retry-after')) > 0, `${instance.name} with the social server stopped: ${answer.status}, Retry-After ${answer.headers.get('retry-after')} (want 503 with Retry-After)`);
      check(ms < 15_000, `${instance.name} took ${ms} ms to answer with the social server stopped`);
    }
    const restarted = await startProc('social', 'social', { [INTER_SERVER.serveDomains]: 'social', PORT: String(socialPort), WORKER: 'off' });
    const back = Date.now();
    const recovered: string[] = [];
    for (const instance of api) {
      let answer = await friends(instance);
      while (answer.status !== 200 && Date.now() - back < 30_000) {
        await sleep(200);
        answer = await friends(instance);
      }
      check(answer.status === 200, `${instance.name} once the social server is back: ${answer.status}`);
      recovered.push(`${instance.name} ${Date.now() - back} ms`);
    }
    outage.to = Date.now();
    details.push(`${outageAnswers} answers 503 during the outage; served again after: ${recovered.join(', ')}; ${restarted.name} back on ${restarted.origin}`);
  });
}

// ---------------------------------------------------------------- the summary

async function connections() {
  const c = new pg.Client({ connectionString: adminUrl.href });
  await c.connect();
  try {
    const rows = (await c.query(`select coalesce(application_name, '') as app, count(*)::int as n from pg_stat_activity where datname = $1 group by 1`, [database])).rows;
    const total = rows.reduce((n: number, r: any) => n + r.n, 0);
    let pooled: string | undefined;
    if (bouncerAdminUrl) {
      const b = new pg.Client({ connectionString: bouncerAdminUrl.href });
      await b.connect();
      try {
        // The admin console speaks the simple protocol only.
        const pools = (await b.query({ text: 'SHOW POOLS', rowMode: 'array' } as any)) as any;
        const names: string[] = pools.fields.map((f: any) => f.name);
        const row = pools.rows.map((r: any[]) => Object.fromEntries(r.map((v, i) => [names[i], v]))).find((r: any) => r.database === database);
        if (row) {
          const server = ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((n, k) => n + Number(row[k] ?? 0), 0);
          const clients = ['cl_active', 'cl_waiting', 'cl_active_cancel_req', 'cl_waiting_cancel_req'].reduce((n, k) => n + Number(row[k] ?? 0), 0);
          pooled = `PgBouncer: ${clients} client connections from the processes share ${server} server connections`;
        }
      } finally {
        await b.end();
      }
    }
    return { total, pooled };
  } finally {
    await c.end();
  }
}
const db = await connections().catch((error) => ({ total: -1, pooled: `could not count: ${(error as Error).message}` }));

// Errors logged while the social server was stopped on purpose are shown, not failures.
const during = (l: Record<string, any>) => outage !== undefined && l.time >= outage.from && l.time <= outage.to;
for (const p of procs) {
  for (const l of p.logs.filter((l) => l.level >= 50)) {
    const line = `${p.name}: ${l.msg} ${l.err?.message ?? ''}`;
    if (during(l)) console.log(`  (during the social server's outage) logged: ${line}`);
    else failures.push(`logged error: ${line}`);
  }
}
for (const proc of procs) if (proc.child.exitCode !== null || proc.child.signalCode !== null) failures.push(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}): ${proc.stderr.join('').slice(-500)}`);

const summary = {
  topology: {
    apiInstances: api.length,
    worker: 1,
    socialApart: SOCIAL_APART,
    pgbouncer: PGBOUNCER ? 'transaction mode' : 'none',
    redis: redisUrl,
    loadBalancer: lb,
  },
  requests,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
  outage503: outageAnswers,
  perInstance: Object.fromEntries(spread),
  databaseConnections: db.total,
  failures: failures.length,
};
console.log('');
for (const line of phases) console.log(`  ${line}`);
console.log('');
console.log(`requests: ${requests} in ${summary.seconds} s; statuses: ${Object.entries(summary.statuses).map(([s, n]) => `${s}×${n}`).join(' ')}`);
console.log(`per instance (through the balancer): ${[...spread].map(([name, n]) => `${name} ${n}`).join(', ')}`);
console.log(`database connections to ${database}: ${db.total}${db.pooled ? ` (${db.pooled})` : ''}`);
for (const failure of failures) console.log(`FAILED: ${failure}`);
console.log(`TOPOLOGY-SUMMARY ${JSON.stringify(summary)}`);
console.log(failures.length === 0 ? 'topology: all checks passed' : `topology: ${failures.length} check(s) failed`);
process.exitCode = failures.length === 0 ? 0 : 1;

if (options.keep) {
  console.log('');
  say(`left running (Ctrl-C stops it all and drops ${database}):`);
  say(`  load balancer   ${lb}   e.g. curl ${lb}/v1/accounts?limit=5`);
  for (const proc of procs) say(`  ${proc.name.padEnd(14)} ${proc.origin ?? '(no API)'}   metrics ${proc.metrics}`);
  say(`  database        ${directUrl.href}${PGBOUNCER ? `   (pooled: ${pooledUrl.href})` : ''}`);
  // Stop when a process dies, as a supervisor would notice.
  await Promise.race(procs.map((p) => p.exited.then(() => say(`${p.name} exited`))));
}
await cleanUp();
