// boot(config): one listening server from a config, and a close that stops all of it, once.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import t, { type Test } from 'tap';
import { boot, BootClosed, type Booting } from '../src/boot.ts';
import { loadConfig } from '../src/config.ts';
import { loggerOptions } from '../src/http/logger.ts';
import { jobPoolSize } from '../src/jobs/queue.ts';
import { eventually } from './helpers/locks.ts';
import { cloneTemplate } from './helpers/postgres.ts';

/** The connections other than `pool`'s own to the database of `url`. */
async function connections(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query('select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  return rows[0].n as number;
}

async function database(t: Test) {
  const { url, drop } = await cloneTemplate();
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  t.teardown(async () => {
    await pool.end();
    await drop();
  });
  return { url, pool };
}

const options = { logger: false as const, listen: { host: '127.0.0.1', port: 0, metricsPort: 0 }, jobs: false };

t.test('a booted server answers, and its close stops it and its connections, however often it is called', async (t) => {
  const { url, pool } = await database(t);
  const server = await boot(loadConfig({ DATABASE_URL: url }), options);
  t.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the API answers');
  t.equal((await fetch(server.metricsUrl!)).status, 200, '/metrics served');
  t.ok((await connections(pool)) > 0, 'the server holds connections');

  const first = server.close();
  t.equal(server.close(), first, 'a second close is the same close');
  await first;
  await server.close();
  await t.rejects(fetch(`${server.url}/healthz`), 'the API no longer accepts');
  await t.rejects(fetch(server.metricsUrl!), '/metrics no longer accepts');
  await eventually('the connections closed', async () => ((await connections(pool)) === 0 ? true : undefined), 30_000);
});

t.test('with REDIS_URL, the rate-limit store is connected by the boot and disconnected by its close', async (t) => {
  const { url } = await database(t);
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  t.teardown(() => redis.disconnect());
  // This process's connections, by the name the store gives them.
  const name = `agora-rate-limit:${hostname()}:${process.pid}`;
  const held = async () => ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
  t.equal(await held(), 0);
  const server = await boot(loadConfig({ DATABASE_URL: url, REDIS_URL: 'redis://127.0.0.1:6379' }), options);
  t.equal(await held(), 1, 'connected by the time the boot resolves');
  await server.close();
  await eventually('the connection closed', async () => ((await held()) === 0 ? true : undefined), 10_000);
});

t.test('a close during the start stops what the start has opened, and the start says it was closed', async (t) => {
  const { url, pool } = await database(t);
  // The close comes at the first statement the ORM runs: the pool is open then, mid-start.
  let closed: Promise<void> | undefined;
  const booting: Booting = boot(loadConfig({ DATABASE_URL: url }), {
    ...options,
    onQuery: () => void (closed ??= booting.close()),
  });
  const failure = await booting.then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(failure instanceof BootClosed, 'the boot is closed, not served');
  t.ok(closed, 'the close came during the start');
  await closed;
  await eventually('no connection left', async () => ((await connections(pool)) === 0 ? true : undefined), 30_000);
});

t.test('with the job queue and a worker, the close also stops the queue and its connections', async (t) => {
  const { url, pool } = await database(t);
  const server = await boot(loadConfig({ DATABASE_URL: url }), { ...options, jobs: true, jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 } });
  t.ok(server.jobs, 'the job queue runs');
  const queueConnections = async () =>
    (await pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'agora-jobs'`)).rows[0].n as number;
  await eventually('the queue holds connections', async () => ((await queueConnections()) > 0 ? true : undefined), 30_000);
  const first = server.close();
  t.equal(server.close(), first, 'a second close is the same close');
  await first;
  await eventually('the connections closed, the queue\'s included', async () => ((await connections(pool)) === 0 ? true : undefined), 30_000);
});

t.test('a worker\'s job queue has a connection for every consumer and room beyond them (JOBS_POOL_MAX unset)', async (t) => {
  const { url, pool } = await database(t);
  const logs: Record<string, any>[] = [];
  const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
  const server = await boot(loadConfig({ DATABASE_URL: url }), {
    ...options,
    logger: loggerOptions({ level: 'info', pretty: false, stream }),
    jobs: true,
    jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 },
  });
  t.teardown(() => server.close());
  const started = logs.find((line) => line.msg === 'worker started');
  t.ok(started, 'the worker started');
  const queues = started?.consumers as string[];
  const consumers = queues.length;
  t.ok(consumers >= 4, `${consumers} consumers`);
  const concurrency = started?.concurrency as Record<string, number>;
  t.same(concurrency, {}, 'notification jobs run one batch at a time (NOTIFICATION_JOBS_CONCURRENCY), every other queue one job at a time');
  t.same(started?.batchSize, { 'events.notifications': 32 }, 'in batches of up to 32 (NOTIFICATION_JOBS_BATCH_SIZE), every other queue one job at a time');
  t.same(started?.gatherMs, { 'events.notifications': 100 }, 'fetched at least 100 ms apart while they keep coming (NOTIFICATION_JOBS_GATHER_MS), every other queue at once');
  const atOnce = consumers;
  t.equal(jobPoolSize(true, queues.map((queue) => ({ concurrency: concurrency[queue] }))), atOnce + 2, 'the pool: one per job run at once, two more');
  t.equal(jobPoolSize(false, queues.map(() => ({}))), 4, 'an instance that only enqueues: four');
  const warnings = logs.filter((line) => line.level >= 40 && /connections/.test(String(line.msg)));
  t.same(warnings.map((line) => line.msg), [], 'pg-boss finds room for fetches and failures beside the consumers');
  const queue = (await pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'agora-jobs'`)).rows[0].n as number;
  t.ok(queue <= atOnce + 2 + 1, `the queue's connections (${queue}) stay within its pool and its listener`);
  await server.close(); // before the database is dropped
});
