// `npm run bench:scale`: how Agora scales out behind PgBouncer on this machine. Seeds a data set
// (bench/seed.ts) into a fresh database, starts PgBouncer in transaction mode in front of it
// (test/helpers/pgbouncer.ts) and three Agora instances (as `npm start` runs them), each with
// DATABASE_URL through PgBouncer and DATABASE_DIRECT_URL for its session-bound connection. Then,
// in alternating rounds (1, 2, 3, 1, 2, 3 …), the same load is spread over the first 1, 2 or 3
// instances, and it reports throughput, latency and the database's connection count (backends
// in pg_stat_activity, sampled during each run) next to what PgBouncer holds (its clients).
// Bounded: a couple of minutes at the defaults. See bench/README.md ("Scaling out").
//
//   node bench/scale.ts [--scale small|smoke] [--duration s] [--rounds n] [--connections n]
//                       [--pool-size n] [--database-url url] [--out dir]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { persistence } from '../src/domains/index.ts';
import { migrate } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { pgbouncerAvailable, startPgBouncer, type PgBouncer } from '../test/helpers/pgbouncer.ts';
import { databaseUrl as databaseUrlOn, runAdmin } from '../test/helpers/postgres.ts';
import { serverArgs, serverEnv } from '../test/helpers/server-command.ts';
import { finishSeeding, SCALES, seedBase, seedPosts } from './seed.ts';

const root = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: 'small' },
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '48' },
    'pool-size': { type: 'string', default: '8' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
  },
});
const scale = SCALES[args.scale!];
if (!scale || !['smoke', 'small'].includes(args.scale!)) {
  console.error('bench:scale: --scale smoke or small (the point is the topology, not the data size)');
  process.exit(2);
}
if (!pgbouncerAvailable()) {
  console.error('bench:scale: pgbouncer is not installed (apt-get install pgbouncer), or set PGBOUNCER to its path');
  process.exit(2);
}
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const poolSize = Number(args['pool-size']);
const INSTANCES = 3;
const log = (message: string) => console.log(`bench:scale: ${message}`);

const adminUrl = args['database-url']!;
const database = `agora_scale_${randomUUID().slice(0, 8)}`;
const directUrl = databaseUrlOn(adminUrl, database);
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

interface Instance {
  name: string;
  origin: string;
  child: ChildProcess;
}

/** Started as `npm start` runs it, logging (info, JSON, as deployed) to a file in the results folder. */
async function startInstance(name: string, bouncer: PgBouncer, logDir: string): Promise<Instance> {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(process.execPath, serverArgs(), {
    cwd: root,
    stdio: ['ignore', fd, fd],
    env: {
      ...serverEnv(),
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: 'off',
      LOG_LEVEL: 'info',
      DATABASE_URL: bouncer.route(directUrl),
      DATABASE_DIRECT_URL: directUrl,
      RATE_LIMIT_PER_MINUTE: '1000000',
      // Three instances and the load generator share this machine's cores: shedding would stand
      // in for the answers measured here.
      MAX_EVENT_LOOP_DELAY_MS: '0',
    },
  });
  closeSync(fd);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
    const text = readFileSync(logFile, 'utf8');
    const origin = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(text)?.[1];
    if (origin) return { name, origin, child };
    if (exited || Date.now() > deadline) throw new Error(`${name} did not start: ${text.slice(-2000)}`);
  }
}

async function stop(instance: Instance): Promise<void> {
  if (instance.child.exitCode !== null) return;
  const exited = new Promise((resolve) => instance.child.once('exit', resolve));
  instance.child.kill('SIGTERM');
  const timer = setTimeout(() => instance.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface Sample {
  backends: number;
  clients: number;
  servers: number;
}

/** Backends on the bench database (pg_stat_activity), and PgBouncer's clients and servers for it. */
async function sample(db: pg.Client, bouncerAdmin: pg.Client): Promise<Sample> {
  const { rows } = await db.query(`select count(*)::int as n from pg_stat_activity where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()`, [database]);
  const pools = (await bouncerAdmin.query('show pools')).rows.find((r) => r.database === database);
  const clients = (await bouncerAdmin.query('show clients')).rows.filter((r) => r.database === database).length;
  const servers = pools ? ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((sum, k) => sum + Number(pools[k]), 0) : 0;
  return { backends: rows[0].n as number, clients, servers };
}

interface Scenario {
  name: string;
  describe: string;
  request: () => autocannon.Request;
}

interface Run {
  scenario: string;
  instances: number;
  round: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  maxBackends: number;
  maxClients: number;
  maxServers: number;
}

/** The load over the first `n` instances, `connections` in all, split evenly; sums their answers. */
async function measure(scenario: Scenario, instances: Instance[], n: number, round: number, db: pg.Client, bouncerAdmin: pg.Client): Promise<Run> {
  await sleep(1000);
  let most: Sample = { backends: 0, clients: 0, servers: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const now = await sample(db, bouncerAdmin);
      most = { backends: Math.max(most.backends, now.backends), clients: Math.max(most.clients, now.clients), servers: Math.max(most.servers, now.servers) };
      await sleep(250);
    }
  })();
  const results = await Promise.all(
    instances.slice(0, n).map((instance, i) =>
      autocannon({
        url: instance.origin,
        connections: Math.floor(connections / n) + (i < connections % n ? 1 : 0),
        duration,
        requests: [scenario.request()],
      }),
    ),
  );
  sampling = false;
  await sampler;
  const total = results.reduce((sum, r) => sum + r.requests.total, 0);
  const errors = results.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0);
  if (errors > 0) throw new Error(`${scenario.name} on ${n} instance(s): ${errors} non-2xx responses, errors or timeouts`);
  // Latency: the worst instance's percentile (each served its share of the same load).
  return {
    scenario: scenario.name,
    instances: n,
    round,
    requestsPerSec: total / duration,
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    errors,
    maxBackends: most.backends,
    maxClients: most.clients,
    maxServers: most.servers,
  };
}

const median = (values: number[]) => {
  const sorted = values.toSorted((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const outDir = resolve(args.out!);
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');

let bouncer: PgBouncer | undefined;
const instances: Instance[] = [];
let exitCode = 0;
const admin = (sql: string) => runAdmin(adminUrl, sql);
try {
  await admin(`create database "${database}"`);
  const orm = await openDatabase({ clientUrl: directUrl, poolMax: 1, persistence });
  await migrate(orm);
  await orm.close(true);
  const db = new pg.Client({ connectionString: directUrl, application_name: 'agora-bench-scale' });
  db.on('error', () => {});
  await db.connect();
  let started = Date.now();
  const sessions = await seedBase(db, scale);
  await seedPosts(db, scale, scale.firstPosts, scale.posts);
  await finishSeeding(db);
  log(`seeded ${scale.accounts} accounts, ${scale.posts} posts, ${sessions.length} sessions in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const postIds = (await db.query('select id from posts.post order by random() limit 5000')).rows.map((r) => r.id as string);
  const tokens = sessions.map((s) => s.token);

  bouncer = await startPgBouncer(adminUrl, { poolSize, maxClients: 2000 });
  const bouncerAdmin = new pg.Client({ connectionString: bouncer.route(adminUrl).replace(/\/[^/]*$/, '/pgbouncer') });
  bouncerAdmin.on('error', () => {}); // PgBouncer stopped at clean-up
  await bouncerAdmin.connect();
  started = Date.now();
  for (let i = 0; i < INSTANCES; i++) instances.push(await startInstance(`${stamp}-scale-agora-${i}`, bouncer, outDir));
  log(`PgBouncer (transaction mode, default_pool_size ${poolSize}) and ${INSTANCES} instances up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const scenarios: Scenario[] = [
    {
      name: 'get-post',
      describe: 'GET /posts/{id}, random ids (a read; author summaries cached)',
      request: () => ({ method: 'GET', path: '/v1/posts/x', setupRequest: (req) => ({ ...req, path: `/v1/posts/${pick(postIds)}` }) }),
    },
    {
      name: 'feed',
      describe: 'GET /feed, random signed-in accounts (a read over friends\u2019 posts)',
      request: () => ({ method: 'GET', path: '/v1/feed', setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}` } }) }),
    },
    {
      name: 'create-post',
      describe: 'POST /posts with a fresh Idempotency-Key (a write: one transaction with its key and events)',
      request: () => ({
        method: 'POST',
        path: '/v1/posts',
        body: JSON.stringify({ text: 'A post written by the scale benchmark' }),
        setupRequest: (req) => ({ ...req, headers: { 'content-type': 'application/json', authorization: `Bearer ${pick(tokens)}`, 'idempotency-key': randomUUID() } }),
      }),
    },
  ];

  // Warm-up: every instance serves each scenario briefly (caches, JIT, pools), not measured.
  for (const scenario of scenarios) {
    await Promise.all(instances.map((instance) => autocannon({ url: instance.origin, connections: 8, duration: 2, requests: [scenario.request()] })));
  }
  const idle = await sample(db, bouncerAdmin);
  log(`idle: ${idle.backends} backends on the database, PgBouncer holds ${idle.clients} clients on ${idle.servers} servers`);

  const runs: Run[] = [];
  for (const scenario of scenarios) {
    for (let round = 0; round < rounds; round++) {
      for (let n = 1; n <= INSTANCES; n++) {
        const result = await measure(scenario, instances, n, round, db, bouncerAdmin);
        runs.push(result);
        log(`${scenario.name} round ${round + 1}, ${n} instance(s): ${Math.round(result.requestsPerSec)} req/s, p99 ${result.p99} ms, ≤ ${result.maxBackends} backends, ≤ ${result.maxClients} PgBouncer clients on ≤ ${result.maxServers} servers`);
      }
    }
  }
  await bouncerAdmin.end();
  await db.end();

  // The table: medians over rounds, ratio vs 1 instance (with the spread of the per-round ratios).
  const lines = [
    `| scenario | instances | req/s (median) | vs 1 instance (min–max over rounds) | p99 ms | backends (max) | PgBouncer clients / servers (max) |`,
    `|---|---:|---:|---|---:|---:|---|`,
  ];
  const summary: Record<string, unknown>[] = [];
  for (const scenario of scenarios) {
    const base = runs.filter((r) => r.scenario === scenario.name && r.instances === 1);
    const baseRps = median(base.map((r) => r.requestsPerSec));
    for (let n = 1; n <= INSTANCES; n++) {
      const these = runs.filter((r) => r.scenario === scenario.name && r.instances === n);
      const rps = median(these.map((r) => r.requestsPerSec));
      const ratios = these.map((r) => r.requestsPerSec / base.find((b) => b.round === r.round)!.requestsPerSec);
      const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
      const row = {
        scenario: scenario.name,
        instances: n,
        requestsPerSec: Math.round(rps),
        ratio: Number((rps / baseRps).toFixed(2)),
        spread,
        p99: median(these.map((r) => r.p99)),
        maxBackends: Math.max(...these.map((r) => r.maxBackends)),
        maxClients: Math.max(...these.map((r) => r.maxClients)),
        maxServers: Math.max(...these.map((r) => r.maxServers)),
      };
      summary.push(row);
      lines.push(`| ${row.scenario} | ${n} | ${row.requestsPerSec} | ${row.ratio.toFixed(2)} (${spread}) | ${row.p99} | ${row.maxBackends} | ${row.maxClients} / ${row.maxServers} |`);
    }
  }
  const meta = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, scale: args.scale, duration, rounds, connections, poolSize, instances: INSTANCES };
  const markdown = [
    `Scale-out behind PgBouncer (transaction mode, default_pool_size ${poolSize}), ${meta.cpus} cores (${meta.cpu}), ` +
      `scale ${args.scale}, ${connections} connections in all, ${duration} s runs, ${rounds} rounds; idle: ${idle.backends} backends, ${idle.clients} PgBouncer clients on ${idle.servers} servers.`,
    '',
    ...lines,
    '',
  ].join('\n');
  console.log(`\n${markdown}`);
  writeFileSync(join(outDir, `${stamp}-scale.md`), markdown);
  writeFileSync(join(outDir, `${stamp}-scale.json`), JSON.stringify({ meta, runs, summary }, null, 2));
  log(`wrote ${join(outDir, `${stamp}-scale.md`)}`);
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await Promise.all(instances.map(stop));
  await bouncer?.stop();
  await admin(`drop database if exists "${database}" with (force)`).catch(() => {});
}
process.exit(exitCode);
