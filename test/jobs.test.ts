// The job queue (pg-boss on Agora's own database, src/jobs/): enqueued in the transaction of the
// write that causes the job, consumed once even across a worker's crash, drained on SIGTERM,
// scheduled once per period across instances, and visible in the metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import pg from 'pg';
import t, { type Test } from 'tap';
import { boot, type Booted, type BootOptions } from '../src/boot.ts';
import { JobQueue, type Consumer } from '../src/jobs/index.ts';
import { CallbackFormClient, createDatabase, together } from '../src/persistence/sql.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { persistence } from '../src/domains/index.ts';
import { loadConfig } from '../src/config.ts';
import { eventually } from './helpers/locks.ts';
import { clientUow, createTestQueue, testEffects, TEST_QUEUE, type EffectJob } from './helpers/jobs.ts';
import { parseMetrics, total } from './helpers/metrics.ts';
import { START_MS } from './helpers/deadlines.ts';
import { cloneTemplate, freePort } from './helpers/postgres.ts';
import { projectRoot } from './helpers/server-command.ts';

// Several servers and worker processes per test, on a machine shared with other test files.
t.setTimeout(600_000);

/** A database of the test's own, with the test queue, and a client on it. */
async function database(t: Test) {
  const { url, drop } = await cloneTemplate();
  await createTestQueue(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(async () => {
    await client.end();
    await drop();
  });
  return { url, client };
}

const fast = { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 };

async function start(t: Test, url: string, options: Partial<BootOptions> = {}): Promise<Booted> {
  const server = await boot(loadConfig({ DATABASE_URL: url }), {
    logger: false,
    migrate: false,
    listen: { host: '127.0.0.1', port: 0, metricsPort: 0 },
    ...options,
    jobTuning: { ...fast, schedules: [], consumers: [testEffects()], ...options.jobTuning },
  });
  t.teardown(() => server.close());
  return server;
}

/** Enqueues a test job in a transaction of `client`'s own, committed. */
async function enqueue(server: Booted, client: pg.Client, job: EffectJob): Promise<string> {
  await client.query('begin');
  const id = await server.jobs!.send(clientUow(client), TEST_QUEUE, { ...job });
  await client.query('commit');
  return id!;
}

async function effects(client: pg.Client): Promise<{ key: string; attempt: number }[]> {
  return (await client.query('select key, attempt from test_effect order by key')).rows;
}

async function jobState(client: pg.Client, id: string): Promise<string | undefined> {
  return (await client.query('select state::text from pgboss.job where id = $1', [id])).rows[0]?.state;
}

/** A worker process (test/helpers/job-worker.ts), with its log lines. */
function workerProcess(t: Test, url: string) {
  const child: ChildProcess = spawn(process.execPath, ['test/helpers/job-worker.ts'], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line));
    } catch {
      lines.push({ msg: line });
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const waitFor = (what: string, match: (line: Record<string, unknown>) => boolean) =>
    eventually(what, () => (lines.some(match) ? true : undefined), START_MS);
  return { child, lines, exited, waitFor };
}

t.test('a job enqueued in a transaction that rolls back does not exist; one that commits runs once', async (t) => {
  const { url, client } = await database(t);
  const server = await start(t, url);

  await client.query('begin');
  const dropped = await server.jobs!.send(clientUow(client), TEST_QUEUE, { key: 'rolled-back' });
  t.ok(dropped, 'the job was enqueued in the transaction');
  await client.query('rollback');

  await client.query('begin');
  const kept = await server.jobs!.send(clientUow(client), TEST_QUEUE, { key: 'committed' });
  // Not visible to a worker before the commit.
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.equal((await other.query('select count(*)::int as n from pgboss.job where id = $1', [kept])).rows[0].n, 0, 'invisible before the commit');
  await other.end();
  await client.query('commit');

  await eventually('the committed job completed', async () => ((await jobState(client, kept!)) === 'completed' ? true : undefined), 30_000);
  t.same(await effects(client), [{ key: 'committed', attempt: 0 }], 'its effect, once; none of the rolled-back one');
  t.equal(await jobState(client, dropped!), undefined, 'the rolled-back job does not exist');
});

t.test("a domain event's job (enqueue) goes with its transaction's COMMIT when the transaction is the Database's; in any other transaction, at once", async (t) => {
  const { url, client } = await database(t);
  const server = await start(t, url);
  const sent: string[] = [];
  const orm = await openDatabase({ clientUrl: url, persistence, poolMax: 2, onQuery: (sql) => void sent.push(sql) });
  t.teardown(() => orm.close(true));
  const db = createDatabase(orm);

  let before: number | undefined;
  await db.transaction(async (uow) => {
    await uow.query('select 1');
    await server.jobs!.enqueue(uow, TEST_QUEUE, { key: 'at-commit' });
    before = (await uow.query<{ n: number }>("select count(*)::int as n from pgboss.job where data->>'key' = 'at-commit'"))[0]?.n;
  });
  t.equal(before, 0, 'held until the COMMIT');
  // pg-boss's insert is prepared on the connection (SQL PREPARE: the connection is direct) and
  // executed by name, the job written in (src/persistence/sql.ts, `commitTexts`).
  t.match(sent.at(-1), /^prepare (agora_reused_\w+) as\s+(WITH ins AS \(\s*)?INSERT INTO pgboss\.job[\s\S]*;\nexecute \1\('[^']*"key":"at-commit"[^']*'\);\ncommit$/, 'and sent with it');
  await db.transaction(async (uow) => {
    await uow.query('select 1');
    await server.jobs!.enqueue(uow, TEST_QUEUE, { key: "again, it's" });
  });
  t.match(sent.at(-1), /^execute agora_reused_\w+\('(?:[^']|'')*"key":"again, it''s"(?:[^']|'')*'\);\ncommit$/, 'the next time on that connection, executed by name alone');
  await t.rejects(
    db.transaction(async (uow) => {
      await server.jobs!.enqueue(uow, TEST_QUEUE, { key: 'thrown' });
      throw new Error('the write fails');
    }),
    /the write fails/,
  );

  await client.query('begin');
  await server.jobs!.enqueue(clientUow(client), TEST_QUEUE, { key: 'at-once' });
  const inside = (await client.query("select count(*)::int as n from pgboss.job where data->>'key' = 'at-once'")).rows[0].n;
  await client.query('commit');
  t.equal(inside, 1, 'in a transaction of its own client, sent at once');

  await eventually('the three jobs completed', async () => ((await effects(client)).length === 3 ? true : undefined), 30_000);
  t.same(
    await effects(client),
    [
      { key: "again, it's", attempt: 0 },
      { key: 'at-commit', attempt: 0 },
      { key: 'at-once', attempt: 0 },
    ],
    'each ran once, its data as sent; the thrown one never existed',
  );
  t.equal((await client.query("select count(*)::int as n from pgboss.job where data->>'key' = 'thrown'")).rows[0].n, 0);
});

/**
 * Every message pg-boss's connections send from now to the test's end (CallbackFormClient sends
 * each through pg's callback form, once), with the connection it went on.
 */
function sentByJobConnections(t: Test): { connection: object; text: string }[] {
  const sent: { connection: object; text: string }[] = [];
  const pgQuery = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: object, config: unknown, ...rest: unknown[]) {
    if (this instanceof CallbackFormClient) sent.push({ connection: this, text: typeof config === 'string' ? config : String((config as { text?: unknown }).text) });
    return (pgQuery as (...args: unknown[]) => unknown).call(this, config, ...rest);
  } as typeof pgQuery;
  t.teardown(() => {
    pg.Client.prototype.query = pgQuery;
  });
  return sent;
}

/** The texts of the first transaction opened with a BEGIN sent with its first statement, on its connection, through its COMMIT. */
function firstTransaction(sent: readonly { connection: object; text: string }[]): string[] {
  const opened = sent.findIndex((message) => /^begin;\n/i.test(message.text));
  if (opened < 0) return [];
  const own = sent.slice(opened).filter((message) => message.connection === sent[opened]!.connection);
  return own.slice(0, own.findIndex((message) => /^commit$/i.test(message.text.trim())) + 1).map((message) => message.text);
}

t.test("a job's transaction is three round trips: the BEGIN and its time bound with the handler's statements sent together, the completion, the COMMIT; a failing statement rolls back the ones sent with it", async (t) => {
  const { url, client } = await database(t);
  const sent = sentByJobConnections(t);
  const consumer: Consumer = {
    queue: TEST_QUEUE,
    async handle(data, job) {
      const { key, then } = data as { key: string; then: string };
      await together(job.uow, [
        { sql: 'insert into test_effect (key, attempt) values ($1, $2)', params: [key, job.retryCount] },
        { sql: 'insert into test_effect (key, attempt) values ($1, $2)', params: [then, job.retryCount] },
      ]);
    },
  };
  const queue = await JobQueue.start({
    connectionString: url,
    poolMax: undefined,
    worker: true,
    consumers: [consumer],
    schedules: [],
    pollingIntervalSeconds: 0.5,
    superviseIntervalSeconds: 60,
    onAttempt: () => {},
    onError: () => {},
    onWarning: () => {},
  });
  t.teardown(() => queue.stop(1000));
  const run = async (data: Record<string, unknown>, state: string) => {
    await client.query('begin');
    const id = (await queue.send(clientUow(client), TEST_QUEUE, data))!;
    await client.query('commit');
    await eventually(`the job ${state}`, async () => ((await jobState(client, id)) === state ? true : undefined), 30_000);
  };

  await run({ key: 'first', then: 'second' }, 'completed');
  t.same(await effects(client), [{ key: 'first', attempt: 0 }, { key: 'second', attempt: 0 }], "both of the handler's statements committed with the job");
  const transaction = firstTransaction(sent);
  t.ok(transaction.length > 0, `a BEGIN sent with the first statement:\n${sent.map((m) => m.text.slice(0, 60)).join('\n')}`);
  t.equal(transaction.length, 3, `three round trips:\n${transaction.join('\n---\n')}`);
  t.match(
    transaction[0],
    /^begin;\nSELECT set_config\('(transaction_timeout|idle_in_transaction_session_timeout)'.*;\ninsert into test_effect .*'first'.*;\ninsert into test_effect .*'second'/s,
    "the BEGIN and the transaction's time bound with the handler's two statements, in one",
  );
  t.match(transaction[2], /^commit$/i, 'and the COMMIT');

  await run({ key: 'third', then: 'first' }, 'failed');
  t.same(await effects(client), [{ key: 'first', attempt: 0 }, { key: 'second', attempt: 0 }], "a failing second statement: the first one's row rolled back with it, at every attempt");
});

t.test("a queue's concurrency: its jobs run that many at once, each in its own transaction, and a backlog drains without waiting out the polling interval", async (t) => {
  const { url, client } = await database(t);
  // A queue of its own, whose jobs expire after a minute (the test queue's, after 2 s, while its
  // workers start on a busy machine).
  const QUEUE = 'test-concurrent';
  await client.query(`select pgboss.create_queue($1, '{"policy":"standard","retryLimit":0,"expireInSeconds":60}'::jsonb)`, [QUEUE]);
  let running = 0;
  let most = 0;
  let gathered = 0;
  const waiting: (() => void)[] = [];
  const consumer: Consumer = {
    queue: QUEUE,
    concurrency: 3,
    async handle(data, job) {
      const { key, gather } = data as { key: string; gather?: boolean };
      running++;
      most = Math.max(most, running);
      try {
        if (gather) {
          // Holds until the three have started: one job at a time, this would never finish.
          if (++gathered >= 3) for (const release of waiting.splice(0)) release();
          else await new Promise<void>((release) => waiting.push(release));
        }
        await job.uow.query('insert into test_effect (key, attempt) values ($1, $2)', [key, job.retryCount]);
      } finally {
        running--;
      }
    },
  };
  const options = { connectionString: url, poolMax: undefined, schedules: [], superviseIntervalSeconds: 60, onAttempt: () => {}, onError: () => {}, onWarning: () => {} };
  // Every job is enqueued before the worker starts: three that wait for each other, then 30.
  const sender = await JobQueue.start({ ...options, worker: false, consumers: [], pollingIntervalSeconds: 60 });
  const keys = Array.from({ length: 30 }, (_, i) => `backlog-${String(i).padStart(2, '0')}`);
  await client.query('begin');
  for (const key of ['a', 'b', 'c']) await sender.send(clientUow(client), QUEUE, { key, gather: true });
  await client.query('commit');
  await client.query('begin');
  for (const key of keys) await sender.send(clientUow(client), QUEUE, { key });
  await client.query('commit');
  await sender.stop(1000);
  // A polling interval longer than the test: a worker that waited it out between jobs would fail it.
  const queue = await JobQueue.start({ ...options, worker: true, consumers: [consumer], pollingIntervalSeconds: 60 });
  t.teardown(() => queue.stop(1000));

  await eventually('the three jobs held together, then the backlog of 30, all run', async () => ((await effects(client)).length === 33 ? true : undefined), 30_000);
  t.equal(most, 3, 'three ran at once');
  t.same((await effects(client)).map((e) => e.key), ['a', 'b', 'c', ...keys].sort(), 'each committed its own effect, once');
  t.ok(most <= 3, `never more than three at once (${most})`);
  const states = (await client.query("select state::text, count(*)::int as n from pgboss.job where name = $1 group by 1", [QUEUE])).rows;
  t.same(states, [{ state: 'completed', n: 33 }], 'every job completed once');
});

/**
 * A batch of `jobs` on a queue of its own, in their keys' order (`order`), whose consumer runs the
 * jobs marked `together` as one call (one statement for them all); `poison` fails that call, and
 * its job's first attempt alone (written, then failed: its row must go with its savepoint).
 */
async function runBatch(t: Test, jobs: { key: string; order?: string; together?: boolean; poison?: boolean }[]) {
  const { url, client } = await database(t);
  const QUEUE = 'test-batched';
  await client.query(`select pgboss.create_queue($1, '{"policy":"standard","retryLimit":1,"retryDelay":0,"expireInSeconds":60}'::jsonb)`, [QUEUE]);
  const sent = sentByJobConnections(t);
  const ran: string[] = [];
  const attempts: string[] = [];
  const consumer: Consumer = {
    queue: QUEUE,
    batchSize: 10,
    orderKey: (data) => (data as { order?: string }).order,
    togetherKey: (data) => ((data as { together?: boolean }).together ? 'together' : undefined),
    async handleTogether(data, context) {
      const keys = data.map((job) => (job as { key: string }).key);
      t.same(context.ids.length, keys.length, 'an id for each job run together');
      ran.push(`[${keys.join(',')}]`);
      await context.uow.query('insert into test_effect (key, attempt) select k, 0 from jsonb_array_elements_text($1::jsonb) k', [JSON.stringify(keys)]);
      if (data.some((job) => (job as { poison?: boolean }).poison)) throw new Error('a job run together fails them all');
    },
    async handle(data, context) {
      const { key, poison } = data as { key: string; poison?: boolean };
      ran.push(`${key}@${context.retryCount}`);
      await context.uow.query('insert into test_effect (key, attempt) values ($1, $2)', [key, context.retryCount]);
      if (poison && context.retryCount === 0) throw new Error(`${key} fails its first attempt`);
    },
  };
  const options = { connectionString: url, poolMax: undefined, schedules: [], superviseIntervalSeconds: 60, onError: () => {}, onWarning: () => {} };
  const sender = await JobQueue.start({ ...options, onAttempt: () => {}, worker: false, consumers: [], pollingIntervalSeconds: 60 });
  await client.query('begin');
  for (const data of jobs) await sender.send(clientUow(client), QUEUE, data);
  await client.query('commit');
  await sender.stop(1000);
  const queue = await JobQueue.start({ ...options, onAttempt: (name, outcome, retry) => attempts.push(`${outcome}${retry ? ' (retry)' : ''}`), worker: true, consumers: [consumer], pollingIntervalSeconds: 60 });
  t.teardown(() => queue.stop(1000));
  await eventually('every job run', async () => ((await effects(client)).length === jobs.length ? true : undefined), 30_000);
  const states = (await client.query('select state::text, retry_count, count(*)::int as n from pgboss.job where name = $1 group by 1, 2 order by 2', [QUEUE])).rows;
  return { ran, attempts, effects: await effects(client), states, transaction: firstTransaction(sent) };
}

t.test("a queue's batches: a worker runs up to batchSize jobs in one transaction, each in a savepoint, in their keys' order; a failing job is rolled back alone and retried, the others commit once, a round trip a job", async (t) => {
  const run = await runBatch(t, [
    { key: 'c-1', order: 'c/1' },
    { key: 'a-3', order: 'a/3' },
    { key: 'b-1', order: 'b/1', poison: true },
    { key: 'a-1', order: 'a/1' },
    { key: 'none' },
    { key: 'a-2', order: 'a/2' },
  ]);
  t.same(run.ran.slice(0, 6), ['none@0', 'a-1@0', 'a-2@0', 'a-3@0', 'b-1@0', 'c-1@0'], "one batch, in its keys' order (without a key first)");
  t.same(run.ran.slice(6), ['b-1@1'], 'then the failed job alone, retried');
  t.same(
    run.effects,
    [
      { key: 'a-1', attempt: 0 },
      { key: 'a-2', attempt: 0 },
      { key: 'a-3', attempt: 0 },
      { key: 'b-1', attempt: 1 },
      { key: 'c-1', attempt: 0 },
      { key: 'none', attempt: 0 },
    ],
    "each job's effect once: the failed attempt's row rolled back with its savepoint, the others' committed with the batch",
  );
  t.same(run.states, [{ state: 'completed', retry_count: 0, n: 5 }, { state: 'completed', retry_count: 1, n: 1 }], 'every job completed, the failed one at its second attempt');
  t.same(run.attempts.toSorted(), ['completed', 'completed', 'completed', 'completed', 'completed', 'completed (retry)', 'failed'], 'the attempts, counted one by one');

  // The batch's transaction, on its connection: a round trip a job (its savepoint, with the
  // previous one's release, goes with its statement; the first one's with the BEGIN and the
  // bound), the failed job's rollback to its savepoint and its failure, the completion of the
  // others, the COMMIT.
  const transaction = run.transaction;
  t.equal(transaction.length, 10, `ten round trips for six jobs:\n${transaction.map((text) => text.slice(0, 100)).join('\n---\n')}`);
  t.match(transaction[0], /^begin;\nSELECT set_config\(.*;\nsavepoint agora_job;\ninsert into test_effect .*'none'/s, "the first job's savepoint with its statement, the BEGIN and the bound");
  t.match(transaction[1], /^release savepoint agora_job;\nsavepoint agora_job;\ninsert into test_effect .*'a-1'/s, "the next one's, with the release of the one before");
  t.match(transaction[5], /^rollback to savepoint agora_job$/, 'the failed job rolled back to its savepoint');
});

t.test("a batch's adjacent jobs that its consumer runs together (togetherKey): one call, one round trip for them all, completed together", async (t) => {
  const run = await runBatch(t, [
    { key: 'b-1', order: 'b/1', together: true },
    { key: 'none' },
    { key: 'a-2', order: 'a/2', together: true },
    { key: 'a-1', order: 'a/1', together: true },
    { key: 'c-1', order: 'c/1' },
  ]);
  t.same(run.ran, ['none@0', '[a-1,a-2,b-1]', 'c-1@0'], "in their keys' order: the adjacent ones together, in that order; the others alone");
  t.same(run.effects.map((e) => e.key), ['a-1', 'a-2', 'b-1', 'c-1', 'none'], 'each effect once');
  t.same(run.states, [{ state: 'completed', retry_count: 0, n: 5 }], 'all completed at their first attempt');
  t.same(run.attempts, ['completed', 'completed', 'completed', 'completed', 'completed'], 'an attempt counted for each job');
  // A round trip for the lone job (with the BEGIN), one for the three together, one for the last, the completion, the COMMIT.
  t.equal(run.transaction.length, 5, `five round trips for five jobs:\n${run.transaction.map((text) => text.slice(0, 100)).join('\n---\n')}`);
  t.match(run.transaction[1], /^release savepoint agora_job;\nsavepoint agora_job;\ninsert into test_effect .*a-1.*a-2.*b-1/s, 'the three in one statement, in a savepoint of their own');
});

t.test('jobs run together that fail are rolled back together and run again one at a time: only the one that fails alone is failed and retried', async (t) => {
  const run = await runBatch(t, [
    { key: 'a-1', order: 'a/1', together: true },
    { key: 'a-2', order: 'a/2', together: true, poison: true },
    { key: 'a-3', order: 'a/3', together: true },
  ]);
  t.same(run.ran, ['[a-1,a-2,a-3]', 'a-1@0', 'a-2@0', 'a-3@0', 'a-2@1'], 'together, then each alone, then the failed one retried');
  t.same(
    run.effects,
    [
      { key: 'a-1', attempt: 0 },
      { key: 'a-2', attempt: 1 },
      { key: 'a-3', attempt: 0 },
    ],
    "each effect once: the call together rolled back, the failed job's own attempt too",
  );
  t.same(run.states, [{ state: 'completed', retry_count: 0, n: 2 }, { state: 'completed', retry_count: 1, n: 1 }], 'two completed at once, the failed one at its retry');
  t.same(run.attempts.toSorted(), ['completed', 'completed', 'completed (retry)', 'failed'], 'the call together counts no attempt; each job alone does');
  t.match(run.transaction[1], /^rollback to savepoint agora_job$/, 'the call together rolled back to its savepoint');
});

t.test('a gathering consumer (gatherMs): a job after a quiet spell runs at once; those that come while it waits are fetched and run in one batch', async (t) => {
  const { url, client } = await database(t);
  const QUEUE = 'test-gathered';
  await client.query(`select pgboss.create_queue($1, '{"policy":"standard","retryLimit":1,"retryDelay":0,"expireInSeconds":60,"notify":true}'::jsonb)`, [QUEUE]);
  const batches: { keys: string[]; at: number }[] = [];
  const consumer: Consumer = {
    queue: QUEUE,
    batchSize: 16,
    // Long, so that a busy machine's delays stay well apart from it.
    gatherMs: 4000,
    togetherKey: () => 'all',
    async handleTogether(data, context) {
      batches.push({ keys: data.map((job) => (job as { key: string }).key), at: performance.now() });
      await context.uow.query('insert into test_effect (key, attempt) select k, 0 from jsonb_array_elements_text($1::jsonb) k', [JSON.stringify(data.map((job) => (job as { key: string }).key))]);
    },
    async handle(data, context) {
      batches.push({ keys: [(data as { key: string }).key], at: performance.now() });
      await context.uow.query('insert into test_effect (key, attempt) values ($1, $2)', [(data as { key: string }).key, context.retryCount]);
    },
  };
  // Polling far apart: only the notifications, and the spacer, wake the worker.
  const options = { connectionString: url, poolMax: undefined, schedules: [], superviseIntervalSeconds: 60, onError: () => {}, onWarning: () => {}, onAttempt: () => {}, pollingIntervalSeconds: 60 };
  const queue = await JobQueue.start({ ...options, worker: true, consumers: [consumer] });
  t.teardown(() => queue.stop(1000));
  const send = async (key: string) => {
    await client.query('begin');
    await queue.send(clientUow(client), QUEUE, { key });
    await client.query('commit');
  };
  const first = performance.now();
  await send('first');
  await eventually('the first job run', async () => ((await effects(client)).length === 1 ? true : undefined), 30_000);
  t.ok(batches[0]!.at - first < 3000, `the first job, after a quiet spell, ran at once (${Math.round(batches[0]!.at - first)} ms), not a gathering later`);
  for (const key of ['a', 'b', 'c', 'd', 'e']) await send(key);
  await eventually('the five others run', async () => ((await effects(client)).length === 6 ? true : undefined), 30_000);
  t.same(batches.map((b) => b.keys), [['first'], ['a', 'b', 'c', 'd', 'e']], 'the five sent while the worker waited: fetched, and run, together');
  t.ok(batches[1]!.at - batches[0]!.at >= 2000, `not before the gathering's end (${Math.round(batches[1]!.at - batches[0]!.at)} ms after the first)`);
});

t.test('a worker killed mid-job: another worker repeats the job, and its effect happens once', async (t) => {
  const { url, client } = await database(t);
  // An instance that only enqueues (WORKER=off).
  const api = await start(t, url, { roles: { worker: false } });
  const first = workerProcess(t, url);
  const id = await enqueue(api, client, { key: 'crash', holdMs: -1 });
  await first.waitFor('the first worker holding the job', (line) => line.msg === 'holding');
  // Its effect is written, uncommitted, when it dies.
  first.child.kill('SIGKILL');
  await first.exited;
  t.same(await effects(client), [], 'nothing of the killed attempt is left');

  const second = workerProcess(t, url);
  await eventually('the job completed by the second worker', async () => ((await jobState(client, id)) === 'completed' ? true : undefined), 60_000);
  t.same(await effects(client), [{ key: 'crash', attempt: 1 }], 'the effect happened once, on the repeated attempt');
  second.child.kill('SIGTERM');
  t.same(await second.exited, { code: 0, signal: null }, 'the second worker stops cleanly');
});

t.test('SIGTERM lets the job in progress finish before the worker exits', async (t) => {
  const { url, client } = await database(t);
  const api = await start(t, url, { roles: { worker: false } });
  const worker = workerProcess(t, url);
  const id = await enqueue(api, client, { key: 'drained', holdMs: 1500 });
  await worker.waitFor('the worker holding the job', (line) => line.msg === 'holding');
  worker.child.kill('SIGTERM');
  t.same(await worker.exited, { code: 0, signal: null }, 'exits 0');
  t.equal(await jobState(client, id), 'completed', 'the job completed before the exit');
  t.same(await effects(client), [{ key: 'drained', attempt: 0 }], 'its effect, once');
});

t.test('a worker alone (npm run worker) runs the consumers and serves no API', async (t) => {
  const { url, client } = await database(t);
  const worker = await start(t, url, { roles: { api: false } });
  t.equal(worker.url, undefined, 'no API address');
  t.equal(worker.app.server.listening, false, 'the API does not listen');
  // Nor is it built: no route, validator or serializer compiled for an app that never listens.
  t.equal((await worker.app.inject({ url: '/docs/v1/openapi.json' })).statusCode, 404, 'no contract served');
  t.equal((await worker.app.inject({ url: '/healthz' })).statusCode, 404, 'no route at all');
  t.equal((await fetch(worker.metricsUrl!)).status, 200, '/metrics is served');
  const id = await enqueue(worker, client, { key: 'worker-only' });
  await eventually('the job completed', async () => ((await jobState(client, id)) === 'completed' ? true : undefined), 30_000);

  // The entry point itself: the worker alone, with the same boot, and the API port left free.
  const port = await freePort();
  const child = spawn(process.execPath, ['src/worker.ts'], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url, PORT: String(port), METRICS_PORT: '0', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => void lines.push(line));
  t.teardown(() => void child.kill('SIGKILL'));
  await eventually('the worker started', () => (lines.some((l) => l.includes('"worker started"')) ? true : undefined), START_MS);
  await t.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens on PORT');
  t.notOk(lines.some((l) => l.includes('docs at')), 'no API announced');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM ends it cleanly');
});

t.test('a schedule runs once per period, however many workers run it', async (t) => {
  const { url, client } = await database(t);
  // pg-boss sends at most one job per schedule and minute; every minute here, as the production
  // schedules run every 15.
  const schedules = [{ queue: 'purge-sessions', cron: '* * * * *' }];
  const instances = await Promise.all([start(t, url, { jobTuning: { schedules } }), start(t, url, { jobTuning: { schedules } })]);
  const count = async (sql: string) => (await client.query(sql)).rows[0].n as number;
  await eventually('a purge completed', async () => ((await count(`select count(*)::int as n from pgboss.job where name = 'purge-sessions' and state = 'completed'`)) > 0 ? true : undefined), 60_000);
  // Both instances look at the schedule every second: let each have several looks meanwhile.
  const cronPass = async () => (await client.query('select cron_on from pgboss.version')).rows[0].cron_on as Date | null;
  const seen = new Set<number>();
  await eventually('four more cron passes', async () => {
    const on = await cronPass();
    if (on) seen.add(on.getTime());
    return seen.size >= 5 ? true : undefined;
  }, 60_000);
  // Stopped, so that the counts below stand still (the registries outlive the servers), at a
  // moment when every occurrence sent so far has been forwarded: an occurrence is a job of
  // pg-boss's `send-it` queue, which a worker turns into the purge job a moment later, and one
  // sent just before the stop would count as an occurrence without its purge job. A new one
  // comes only when a minute turns, so the stop waits until none is pending, away from a turn.
  await eventually('every occurrence forwarded, away from a minute\'s turn', async () => {
    const second = new Date().getUTCSeconds();
    if (second < 5 || second > 50) return undefined;
    return (await count(`select count(*)::int as n from pgboss.job where name = '__pgboss__send-it' and state < 'completed'`)) === 0 ? true : undefined;
  }, 90_000);
  await Promise.all(instances.map((i) => i.close()));
  const occurrences = await count(`select count(distinct date_trunc('minute', singleton_on))::int as n from pgboss.job where name = '__pgboss__send-it' and data->>'name' = 'purge-sessions'`);
  const jobs = await count(`select count(*)::int as n from pgboss.job where name = 'purge-sessions'`);
  t.ok(occurrences >= 1, 'the schedule came due');
  t.equal(jobs, occurrences, 'one purge job per occurrence, not one per instance');
  const scrapes = await Promise.all(instances.map(async (i) => parseMetrics(await i.metrics.registry.metrics())));
  const counted = scrapes.map((s) => total(s, 'agora_jobs_completed_total', { queue: 'purge-sessions' }));
  t.equal(counted[0]! + counted[1]!, await count(`select count(*)::int as n from pgboss.job where name = 'purge-sessions' and state = 'completed'`), 'each purge ran once: on one instance, not both');
});

t.test('the metrics count completed, failed and retried attempts, and show depth, dead letters and the oldest job', async (t) => {
  const { url, client } = await database(t);
  const server = await start(t, url);
  const retried = await enqueue(server, client, { key: 'retried', failures: 1 });
  const dead = await enqueue(server, client, { key: 'dead', failures: 99 });
  await client.query('begin');
  await server.jobs!.send(clientUow(client), 'test-idle', {});
  await client.query('commit');
  await eventually('the retried job completed', async () => ((await jobState(client, retried)) === 'completed' ? true : undefined), 30_000);
  await eventually('the dead job failed', async () => ((await jobState(client, dead)) === 'failed' ? true : undefined), 30_000);

  const scrape = parseMetrics(await (await fetch(server.metricsUrl!)).text());
  const queue = { queue: TEST_QUEUE };
  t.equal(total(scrape, 'agora_jobs_completed_total', queue), 1, 'one attempt completed');
  t.equal(total(scrape, 'agora_jobs_failed_total', queue), 4, 'one failed attempt of the retried job, three of the dead one');
  t.equal(total(scrape, 'agora_jobs_retried_total', queue), 3, 'three attempts were retries');
  t.equal(total(scrape, 'agora_jobs_completed_total', { queue: 'purge-sessions' }), 0, "Agora's queues start at zero");
  t.equal(total(scrape, 'agora_job_queue_depth', { queue: 'dead-letters' }), 1, 'the dead job is in the dead letters');
  t.equal(total(scrape, 'agora_job_queue_depth', { queue: 'test-idle' }), 1, 'the unconsumed job waits');
  t.ok(total(scrape, 'agora_job_oldest_age_seconds', { queue: 'test-idle' }) > 0, 'and ages');
  t.equal(total(scrape, 'agora_job_queue_depth', queue), 0, 'nothing left in the test queue');
  t.same(await effects(client), [{ key: 'retried', attempt: 1 }], 'the effects of failed attempts rolled back');
});
