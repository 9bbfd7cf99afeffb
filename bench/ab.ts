// Agora against Agora: two builds (or two settings) of the server, in alternating short rounds on
// the same data, to tell whether a change moved Agora's own CPU per request. `npm run bench`
// compares Agora with the bare baseline, which moves as much with the machine's load as a small
// change does; here both sides are Agora, each started as its checkout's `npm start` starts it
// (that package.json's Node flags and environment), and each round's ratio compares runs seconds
// apart.
//
//   (cd ../other-checkout && npm run build)
//   npm run bench:ab -- --b ../other-checkout                    # this checkout (A) against another (B)
//   npm run bench:ab -- --b-env LOG_LEVEL=warn --only get-post   # one checkout, two settings
//   npm run bench:ab -- --b-node-flag=--max-semi-space-size=16     # one checkout, two sets of Node flags
//
// Options: --a DIR, --b DIR (checkouts with a built dist/; default this one), --a-env / --b-env
// KEY=VALUE (repeatable), --a-node-flag / --b-node-flag FLAG (repeatable: added after the side's
// `npm start` Node flags, so a V8 flag given twice takes this value), --only get-post,account-posts,feed,list-conversations,list-notifications,list-messages,send-message,create-post (default get-post), --rounds N (12),
// --duration S (2), --warmup S (3, each server twice per scenario), --connections N (50), --scale smoke|small (small), --database-url URL (a
// PostgreSQL server: a fresh database is made there and dropped; default DATABASE_URL, else an
// embedded one), --no-pin, --workers.
// The two servers serve the API only (WORKER=off); a third process of A's build runs the worker
// (job consumers, fan-out), unmeasured, and, when the feed is measured, a fourth reads every
// reader's feed once first (see below). With --workers, each side has a worker of its own build
// instead, measured with its server: it runs only during its side's rounds (the other side's is
// stopped with SIGSTOP), and a round ends once the domain events' jobs its requests caused have
// all run, so that a message's CPU counts its notification job's (send-message). The scenario
// message-jobs (with --workers; --jobs N a round, 1000) measures the workers alone: each round
// enqueues N messages' notification jobs (the domain event message.sent, as a message sent to a
// seeded conversation publishes it) while both workers are stopped, then runs one side's worker
// until they have all run; its CPU per job.
// Prints each side's Node flags, then, per scenario, each side's medians, B/A per-round ratios as median (min–max), and each
// side's peak resident memory so far. Two servers of one build can still differ by up to 1.2 ×
// on the feed within a run, either way (bench/README.md): run a comparison both ways round.
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { persistence } from '../src/domains/index.ts';
import { JobQueue } from '../src/jobs/queue.ts';
import type { Queryable } from '../src/persistence/sql.ts';
import { migrate } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/persistence/embedded-postgres.ts';
import { databaseUrl as databaseUrlOn, freePort, runAdmin } from '../test/helpers/postgres.ts';
import { clientUow } from '../test/helpers/jobs.ts';
import { serverArgs, serverEnv } from '../test/helpers/server-command.ts';
import { cpuNow, cpuSince, domainEventJobsDrained, median, pinningAvailable, pinToCore } from './measure.ts';
import { conversationsOfSessions, finishSeeding, SCALES, seedBase, seedConversations, seedNotifications, seedPosts } from './seed.ts';

const root = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    a: { type: 'string', default: root },
    b: { type: 'string', default: root },
    'a-env': { type: 'string', multiple: true, default: [] },
    'b-env': { type: 'string', multiple: true, default: [] },
    'a-node-flag': { type: 'string', multiple: true, default: [] },
    'b-node-flag': { type: 'string', multiple: true, default: [] },
    only: { type: 'string', default: 'get-post' },
    rounds: { type: 'string', default: '12' },
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    scale: { type: 'string', default: 'small' },
    'database-url': { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    workers: { type: 'boolean', default: false },
    jobs: { type: 'string', default: '1000' },
  },
});

function environment(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`an environment setting is KEY=VALUE, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

const SCENARIOS = ['get-post', 'account-posts', 'feed', 'list-conversations', 'list-notifications', 'list-messages', 'send-message', 'create-post', 'message-jobs'] as const;
type ScenarioName = (typeof SCENARIOS)[number];
const scenarios = args.only!.split(',').map((s) => s.trim()) as ScenarioName[];
const unknown = scenarios.filter((s) => !SCENARIOS.includes(s));
const scale = SCALES[args.scale!];
if (unknown.length > 0 || !scale || (args.scale !== 'smoke' && args.scale !== 'small')) {
  console.error(`ab: --only takes ${SCENARIOS.join(', ')}; --scale smoke or small`);
  process.exit(2);
}
if (scenarios.includes('message-jobs') && !args.workers) {
  console.error("ab: message-jobs measures each side's worker: run it with --workers");
  process.exit(2);
}
const jobsPerRound = Number(args.jobs);
// Each side's checkout is checked before the database is seeded: a side that cannot start fails
// the run at once, not after the seeding.
for (const [name, dir] of [['A', resolve(args.a!)], ['B', resolve(args.b!)]] as const) {
  let why: string | undefined;
  try {
    serverArgs(dir);
    if (!existsSync(join(dir, 'dist', 'main.js'))) why = 'it has no build (dist/main.js): run npm run build there';
  } catch (error) {
    why = error instanceof Error ? error.message : String(error);
  }
  if (why) {
    console.error(`ab: Agora ${name} (${dir}) could not start: ${why}`);
    process.exit(1);
  }
}
// Without a server of yours, an embedded one, as `npm run bench` does.
let adminUrl = args['database-url'] ?? process.env.DATABASE_URL;
let embedded: EmbeddedDatabase | undefined;
let embeddedParent: string | undefined;
if (!adminUrl) {
  embeddedParent = mkdtempSync(join(tmpdir(), 'agora-ab-'));
  chmodSync(embeddedParent, 0o755);
  embedded = await startEmbeddedPostgres({ dataDir: join(embeddedParent, 'postgres'), port: await freePort(), database: 'postgres' });
  adminUrl = embedded.url;
}
const rounds = Number(args.rounds);
const duration = Number(args.duration);
const warmup = Number(args.warmup);
const connections = Number(args.connections);
const sides = [
  { name: 'A', dir: resolve(args.a!), env: environment(args['a-env']!), nodeFlags: args['a-node-flag']! },
  { name: 'B', dir: resolve(args.b!), env: environment(args['b-env']!), nodeFlags: args['b-node-flag']! },
];

// As bench/run.ts does: the servers (and PostgreSQL's backends, where they can be pinned) on
// core 0, the load on core 1.
const canPin = !args['no-pin'] && pinningAvailable();
const pin = (pid: number, core: number) => canPin && pinToCore(pid, core);
pin(process.pid, 1);

const database = `agora_ab_${process.pid}`;
const url = databaseUrlOn(adminUrl, database);
const children: ChildProcess[] = [];
/** The servers' output: kept when the run fails, to read why. */
const logPaths: string[] = [];

interface Round {
  requestsPerSec: number;
  cpuPerRequest: number;
  /** Of cpuPerRequest, V8's threads' (garbage collection's helpers, background compilation). */
  v8PerRequest: number;
  /** Of cpuPerRequest, the side's worker's (with --workers; 0 otherwise). */
  workerPerRequest: number;
  p99: number;
}

// One precision for all three: rounding keeps their order, so the median printed is never outside
// its printed range (1.031 with a range printed as 1.03–1.03 was).
const spread = (values: number[]) => `${median(values).toFixed(3)} (${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)})`;

let exitCode = 0;
/** With --workers: a connection that reads whether the domain events' jobs have all run. */
let backlog: pg.Client | undefined;
/** message-jobs: what enqueues its jobs. */
let enqueuer: { client: pg.Client; queue: JobQueue; uow: Queryable } | undefined;
try {
  await runAdmin(adminUrl, `create database "${database}"`);
  const orm = await openDatabase({ clientUrl: url, poolMax: 1, persistence });
  await migrate(orm);
  await orm.close(true);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const sessions = await seedBase(client, scale);
  await seedPosts(client, scale, scale.firstPosts, scale.posts);
  await seedConversations(client, scale);
  await seedNotifications(client, scale);
  await finishSeeding(client);
  const postIds = (await client.query<{ id: string }>('select id from posts.post where channel_id is null limit 5000')).rows.map((r) => r.id);
  const accountIds = (await client.query<{ id: string }>('select id from public.bench_account')).rows.map((r) => r.id);
  const conversations = await conversationsOfSessions(client, sessions);
  await client.end();
  const tokens = sessions.map((s) => s.token);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

  const servers: { name: string; dir: string; env: Record<string, string>; nodeFlags: string[]; origin: string; pid: number; worker?: number }[] = [];
  /** Starts `entry` of checkout `dir` as that checkout's `npm start` starts the server (its flags and environment); its output goes to a log. */
  const start = (name: string, dir: string, entry: string, env: Record<string, string>, nodeFlags: readonly string[] = [], detached = false): ChildProcess => {
    const logPath = join(tmpdir(), `agora-ab-${process.pid}-${name}.log`);
    const fd = openSync(logPath, 'w');
    logPaths.push(logPath);
    const command = serverArgs(dir);
    const child = spawn(process.execPath, [...command.slice(0, -1), ...nodeFlags, entry], {
      cwd: dir,
      detached,
      stdio: ['ignore', fd, fd],
      env: {
        PATH: process.env.PATH,
        ...serverEnv(dir),
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        METRICS_PORT: '0',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        DATABASE_URL: url,
        RATE_LIMIT_PER_MINUTE: '1000000',
        ...env,
      },
    });
    closeSync(fd);
    children.push(child);
    return child;
  };
  /** Starts an API server of checkout `dir` on a port of its own; resolves once it answers. */
  const startServer = async (name: string, dir: string, env: Record<string, string>, nodeFlags: readonly string[] = []): Promise<{ child: ChildProcess; origin: string }> => {
    const port = await freePort();
    let child: ChildProcess;
    try {
      child = start(name, dir, 'dist/main.js', { PORT: String(port), ...env }, nodeFlags);
    } catch (error) {
      // Its `npm start` could not be read (no such checkout, say).
      throw new Error(`Agora ${name} (${dir}) could not start: ${error instanceof Error ? error.message : String(error)}`);
    }
    const output = logPaths.at(-1);
    if (child.pid === undefined) {
      // Not spawned at all (no such directory, say): the error event says why.
      const error = await new Promise<Error>((done) => child.once('error', done));
      throw new Error(`Agora ${name} (${dir}) could not start: ${error.message}`);
    }
    const origin = `http://127.0.0.1:${port}`;
    for (let waited = 0; !(await fetch(`${origin}/healthz`).then((r) => r.ok, () => false)); waited += 200) {
      if (child.exitCode !== null) throw new Error(`Agora ${name} (${dir}) exited with ${child.exitCode}; its output: ${output}`);
      if (waited > 60_000) throw new Error(`Agora ${name} did not answer within a minute; its output: ${output}`);
      await sleep(200);
    }
    return { child, origin };
  };
  for (const side of sides) {
    // The two servers measured serve the API only (WORKER=off unless a side's environment says
    // otherwise): the job consumers, the fan-out and pg-boss's upkeep run in a worker process of
    // their own, below, whose CPU is not measured. With a worker in each server, the jobs that
    // one server's requests cause (send-message's events) were run, and counted, by either.
    const { child, origin } = await startServer(side.name, side.dir, { WORKER: 'off', ...side.env }, side.nodeFlags);
    pin(child.pid!, 0);
    servers.push({ ...side, origin, pid: child.pid! });
    // Each side runs with its own checkout's `npm start` flags, then its extra ones.
    console.log(`${side.name} (${side.dir}): node ${[...serverArgs(side.dir).slice(0, -1), ...side.nodeFlags].join(' ')}`);
  }
  // The worker (A's build), unpinned and unmeasured: the feed's kept pages are served only while
  // its fan-out is fresh, so the measurements start once it has caught up. With --workers, one
  // of each side's build, pinned and measured with its server.
  const workers = args.workers
    ? servers.map((server) => {
        // In a process group of its own: were the run's group orphaned (its shell gone) while a
        // member is stopped, the kernel would hang it up (SIGHUP), and a worker stops on that.
        const child = start(`worker-${server.name}`, server.dir, 'dist/worker.js', server.env, server.nodeFlags, true);
        pin(child.pid!, 0);
        server.worker = child.pid!;
        return child;
      })
    : [start('worker', sides[0]!.dir, 'dist/worker.js', {})];
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  try {
    for (let waited = 0; ; waited += 200) {
      for (const worker of workers) {
        if (worker.exitCode !== null) throw new Error(`a worker exited with ${worker.exitCode}; the output: ${logPaths.join(' ')}`);
      }
      if (waited > 60_000) throw new Error(`the worker's fan-out did not catch up within a minute; its output: ${logPaths.at(-1)}`);
      const [fresh] = (await watcher.query<{ fresh: boolean }>("select caught_up_at > now() - interval '2 seconds' as fresh from timelines.fanout where id = 1")).rows;
      if (fresh?.fresh) break;
      await sleep(200);
    }
  } finally {
    await watcher.end();
  }
  backlog = args.workers ? new pg.Client({ connectionString: url }) : undefined;
  await backlog?.connect();
  const drained = () => domainEventJobsDrained(backlog!, 60_000);
  /**
   * Stops a side's worker once it holds no domain event's job. A request still in flight when
   * its round's load ended (autocannon aborts them) can enqueue a job after the drain, and the
   * worker fetch it just before it stops: the job then stays active, held by a stopped worker,
   * and the other side's drain waits for it in vain (the smoke test's run once did, a minute).
   * So once the worker is stopped and its statements have all been answered, a job still active
   * sends it back to work until the jobs have drained again.
   */
  const stopWorker = async (pid: number) => {
    for (;;) {
      process.kill(pid, 'SIGSTOP');
      for (let waited = 0; ; waited += 10) {
        const [busy] = (await backlog!.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'agora-jobs' and state = 'active'")).rows;
        if (busy!.n === 0) break;
        if (waited > 60_000) throw new Error("a stopped worker's statements were not answered within a minute");
        await sleep(10);
      }
      const [held] = (await backlog!.query<{ n: number }>("select count(*)::int as n from pgboss.job where name like 'events.%' and state = 'active'")).rows;
      if (held!.n === 0) return;
      console.log(`ab: a worker stopped holding ${held!.n} job(s); it runs until the jobs have drained again`);
      process.kill(pid, 'SIGCONT');
      await drained();
    }
  };
  // Each side's worker runs during its own rounds only.
  for (const server of servers) if (server.worker) await stopWorker(server.worker);
  // message-jobs: seeded conversations with their participants, and a queue that only enqueues.
  const messageConversations = scenarios.includes('message-jobs')
    ? (
        await backlog!.query<{ id: string; participants: string[] }>(
          'select conversation_id as id, array_agg(account_id::text order by account_id) as participants from messages.participant group by conversation_id limit 2000',
        )
      ).rows
    : [];
  if (scenarios.includes('message-jobs')) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const queue = await JobQueue.start({
      connectionString: url,
      poolMax: 2,
      worker: false,
      consumers: [],
      schedules: [],
      pollingIntervalSeconds: 1,
      superviseIntervalSeconds: 60,
      onAttempt: () => {},
      onError: (error) => console.error(`ab: the enqueuing queue: ${error.message}`),
      onWarning: () => {},
    });
    enqueuer = { client, queue, uow: clientUow(client) };
  }

  const request = (scenario: ScenarioName) => (req: autocannon.Request) => {
    if (scenario === 'get-post') return { ...req, path: `/v1/posts/${pick(postIds)}` };
    if (scenario === 'account-posts') return { ...req, path: `/v1/accounts/${pick(accountIds)}/posts` };
    if (scenario === 'list-conversations' || scenario === 'list-notifications') {
      return { ...req, path: `/v1/${scenario.slice(5)}`, headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}` } };
    }
    if (scenario === 'list-messages' || scenario === 'send-message') {
      const { token, conversationId } = pick(conversations);
      const path = `/v1/conversations/${conversationId}/messages`;
      if (scenario === 'list-messages') return { ...req, path, headers: { ...req.headers, authorization: `Bearer ${token}` } };
      return {
        ...req,
        method: 'POST' as const,
        path,
        headers: { ...req.headers, authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ text: 'A message sent by the benchmark' }),
      };
    }
    if (scenario === 'create-post') {
      // As bench/run.ts's create-post: a keyed create by a random signed-in account. Its fan-out
      // to the author's friends runs in the worker, unmeasured.
      return {
        ...req,
        method: 'POST' as const,
        path: '/v1/posts',
        headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ text: 'A post written by the benchmark' }),
      };
    }
    return { ...req, path: '/v1/feed', headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}` } };
  };
  // A reader's first feed read makes its timeline in the database both servers share. Made by
  // whichever server read first, that work went to the server warmed up first, and so did the
  // type feedback V8 optimized its code from: the same build was measured 1.15–1.3 × slower on
  // the feed as A than as B, in run after run. So a third server of A's build, unmeasured, reads
  // every signed-in reader's feed once before either is warmed up, and stops.
  if (scenarios.includes('feed')) {
    const { child: primer, origin } = await startServer('primer', sides[0]!.dir, { WORKER: 'off' });
    for (const token of tokens) {
      const response = await fetch(`${origin}/v1/feed`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`the primer's GET /v1/feed answered ${response.status}`);
      await response.arrayBuffer();
    }
    primer.kill('SIGTERM');
    await new Promise((done) => (primer.exitCode === null ? primer.once('exit', done) : done(undefined)));
  }

  const measure = async (scenario: ScenarioName, server: (typeof servers)[number], seconds: number): Promise<Round> => {
    if (scenario === 'message-jobs') return drainJobs(server.worker!);
    if (server.worker) process.kill(server.worker, 'SIGCONT');
    const before = cpuNow(server.pid);
    const workerBefore = server.worker ? cpuNow(server.worker) : undefined;
    const result = await autocannon({ url: server.origin, connections, duration: seconds, requests: [{ setupRequest: request(scenario) }] });
    if (server.worker) {
      await drained();
      await stopWorker(server.worker);
    }
    const used = cpuSince(server.pid, before);
    const workerUsed = workerBefore ? cpuSince(server.worker!, workerBefore) : { all: 0, v8Threads: 0 };
    const cpu = (used.all + workerUsed.all) * 1e6;
    const v8 = (used.v8Threads + workerUsed.v8Threads) * 1e6;
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${scenario} on ${server.name}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
    const requests = Math.max(1, result.requests.total);
    return { requestsPerSec: result.requests.average, cpuPerRequest: cpu / requests, v8PerRequest: v8 / requests, workerPerRequest: (workerUsed.all * 1e6) / requests, p99: result.latency.p99 };
  };

  /**
   * Enqueues `jobsPerRound` notification jobs of sent messages (both workers stopped), then runs
   * `worker` until they have all run: its CPU per job (a round's "requests" are its jobs).
   */
  async function drainJobs(worker: number): Promise<Round> {
    await enqueuer!.client.query('begin');
    for (let i = 0; i < jobsPerRound; i++) {
      const { id, participants } = pick(messageConversations);
      const authorId = pick(participants);
      const payload = { conversationId: id, messageId: randomUUID(), authorId, recipientIds: participants.filter((p) => p !== authorId) };
      await enqueuer!.queue.send(enqueuer!.uow, 'events.notifications', { event: 'message.sent', payload });
    }
    await enqueuer!.client.query('commit');
    const before = cpuNow(worker);
    const started = performance.now();
    process.kill(worker, 'SIGCONT');
    await drained();
    const seconds = (performance.now() - started) / 1000;
    await stopWorker(worker);
    const used = cpuSince(worker, before);
    return { requestsPerSec: jobsPerRound / seconds, cpuPerRequest: (used.all * 1e6) / jobsPerRound, v8PerRequest: (used.v8Threads * 1e6) / jobsPerRound, workerPerRequest: (used.all * 1e6) / jobsPerRound, p99: 0 };
  }

  for (const scenario of scenarios) {
    // Warm-up: A, B, B, A, each `--warmup` seconds. Both servers share the database, and the
    // first reads of a scenario do work the other then finds done (a reader's first feed read
    // makes its timeline): measured in the first rounds, the server that went first was the
    // slower by 1.2–1.4 × on the feed (the first rounds ran at a tenth of the later ones), the
    // same build on both sides.
    for (const i of [0, 1, 1, 0]) await measure(scenario, servers[i]!, warmup);
    const results: Round[][] = [[], []];
    for (let round = 0; round < rounds; round++) {
      for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) results[i]!.push(await measure(scenario, servers[i]!, duration));
    }
    const jobs = scenario === 'message-jobs';
    // message-jobs measures the workers alone: jobs, not requests, and each side's worker's memory.
    const unit = jobs ? 'job' : 'request';
    const rate = jobs ? 'jobs/s' : 'req/s';
    console.log(
      jobs
        ? `${scenario}, ${rounds} alternating rounds of ${jobsPerRound} jobs; CPU: each side's worker's:`
        : `${scenario}, ${rounds} alternating rounds of ${duration} s, ${connections} connections${args.workers ? "; CPU: each server's and its worker's, until its requests' jobs have run" : ''}:`,
    );
    for (const [i, server] of servers.entries()) {
      const own = results[i]!;
      const env = [...Object.entries(server.env).map(([k, v]) => `${k}=${v}`), ...server.nodeFlags].join(' ');
      const worker = !jobs && args.workers ? `; its worker's ${median(own.map((r) => r.workerPerRequest)).toFixed(0)}` : '';
      console.log(
        `  ${server.name} (${server.dir}${env ? `, ${env}` : ''}): ${median(own.map((r) => r.requestsPerSec)).toFixed(0)} ${rate}, ` +
          `${median(own.map((r) => r.cpuPerRequest)).toFixed(0)} µs CPU/${unit} (V8's threads ${median(own.map((r) => r.v8PerRequest)).toFixed(0)}${worker})` +
          (jobs ? '' : `, p99 ${median(own.map((r) => r.p99))} ms (${Math.min(...own.map((r) => r.p99))}–${Math.max(...own.map((r) => r.p99))})`),
      );
    }
    const ratio = (of: (r: Round) => number) => results[1]!.map((r, i) => of(r) / of(results[0]![i]!));
    console.log(
      `  B/A: CPU/${unit} ${spread(ratio((r) => r.cpuPerRequest))}; ${rate} ${spread(ratio((r) => r.requestsPerSec))}` +
        // autocannon's percentiles are whole milliseconds: a p99 under 1 ms reads 0, counted as 1 so that a ratio stays finite.
        (jobs ? '' : `; p99 ${spread(ratio((r) => Math.max(r.p99, 1)))}`),
    );
    console.log(
      jobs
        ? `  peak RSS so far (VmHWM): A's worker ${peakRssMb(servers[0]!.worker!)} MB, B's worker ${peakRssMb(servers[1]!.worker!)} MB`
        : `  peak RSS so far (VmHWM): A ${peakRssMb(servers[0]!.pid)} MB, B ${peakRssMb(servers[1]!.pid)} MB`,
    );
  }
} catch (error) {
  console.error(`ab: ${error instanceof Error ? error.message : String(error)}`);
  if (logPaths.length > 0) console.error(`ab: the servers' output: ${logPaths.join(' ')}`);
  exitCode = 1;
} finally {
  await enqueuer?.queue.stop(1000).catch(() => {});
  await enqueuer?.client.end().catch(() => {});
  await backlog?.end().catch(() => {});
  for (const child of children) {
    if (child.exitCode !== null) continue;
    // A stopped worker hears nothing until it is continued.
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  }
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await runAdmin(adminUrl, `drop database if exists "${database}" with (force)`).catch(() => {});
  await embedded?.stop();
  if (exitCode === 0) for (const path of logPaths) rmSync(path, { force: true });
  if (embeddedParent) rmSync(embeddedParent, { recursive: true, force: true });
}
process.exit(exitCode);

/** The process's peak resident memory so far, in MB. */
function peakRssMb(pid: number): number | string {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : '?';
}
