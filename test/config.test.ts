// The environment is validated at start-up: a bad value stops the server, naming the variable.
import t from 'tap';
import { loadConfig } from '../src/config.ts';

t.test('DATABASE_NAMED_STATEMENTS: auto unless set; on, off or auto, nothing else', async (t) => {
  t.equal(loadConfig({}).databaseNamedStatements, 'auto');
  t.equal(loadConfig({ DATABASE_NAMED_STATEMENTS: '' }).databaseNamedStatements, 'auto', 'empty is unset');
  for (const value of ['on', 'off', 'auto'] as const) t.equal(loadConfig({ DATABASE_NAMED_STATEMENTS: value }).databaseNamedStatements, value);
  for (const bad of ['true', 'ON', 'named', '1']) {
    t.throws(() => loadConfig({ DATABASE_NAMED_STATEMENTS: bad }), { name: 'ConfigError', message: `DATABASE_NAMED_STATEMENTS must be one of auto, on, off, got "${bad}"` }, bad);
  }
});

t.test('DATABASE_QUERY_TIMEOUT_MS: the deadline of every SQL statement, 5 s unless set', async (t) => {
  t.equal(loadConfig({}).databaseQueryTimeoutMs, 5000);
  t.equal(loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '1500' }).databaseQueryTimeoutMs, 1500);
  for (const bad of ['abc', '-1', '1.5', '99', '600001']) {
    t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: bad }), { name: 'ConfigError' }, bad);
    t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: bad }), /DATABASE_QUERY_TIMEOUT_MS/, bad);
  }
});

t.test('WORKER, JOBS_POOL_MAX, JOBS_POLL_INTERVAL_MS, NOTIFICATION_JOBS_CONCURRENCY, NOTIFICATION_JOBS_BATCH_SIZE, NOTIFICATION_JOBS_GATHER_MS: the job queue of this instance', async (t) => {
  t.same(
    loadConfig({}).jobs,
    { worker: true, poolMax: undefined, pollIntervalMs: 2000, notificationConcurrency: 1, notificationBatchSize: 32, notificationGatherMs: 100 },
    'a worker by default, its pool sized by its consumers, notification jobs one batch at a time, of up to 32, fetched at least 100 ms apart while they keep coming',
  );
  t.equal(loadConfig({ NOTIFICATION_JOBS_GATHER_MS: '0' }).jobs.notificationGatherMs, 0, '0: each fetched at once');
  t.equal(loadConfig({ NOTIFICATION_JOBS_GATHER_MS: '1000' }).jobs.notificationGatherMs, 1000);
  t.equal(loadConfig({ NOTIFICATION_JOBS_BATCH_SIZE: '1' }).jobs.notificationBatchSize, 1);
  t.equal(loadConfig({ NOTIFICATION_JOBS_BATCH_SIZE: '32' }).jobs.notificationBatchSize, 32);
  t.equal(loadConfig({ NOTIFICATION_JOBS_CONCURRENCY: '1' }).jobs.notificationConcurrency, 1);
  t.equal(loadConfig({ NOTIFICATION_JOBS_CONCURRENCY: '16' }).jobs.notificationConcurrency, 16);
  t.equal(loadConfig({ WORKER: 'off' }).jobs.worker, false);
  t.equal(loadConfig({ WORKER: 'on' }).jobs.worker, true);
  t.equal(loadConfig({ JOBS_POOL_MAX: '8', JOBS_POLL_INTERVAL_MS: '500' }).jobs.poolMax, 8);
  for (const [name, bad] of [['WORKER', 'false'], ['WORKER', 'yes'], ['JOBS_POOL_MAX', '1'], ['JOBS_POLL_INTERVAL_MS', '100'], ['NOTIFICATION_JOBS_CONCURRENCY', '0'], ['NOTIFICATION_JOBS_CONCURRENCY', '17'], ['NOTIFICATION_JOBS_BATCH_SIZE', '0'], ['NOTIFICATION_JOBS_BATCH_SIZE', '33'], ['NOTIFICATION_JOBS_BATCH_SIZE', '1.5'], ['NOTIFICATION_JOBS_GATHER_MS', '-1'], ['NOTIFICATION_JOBS_GATHER_MS', '1001'], ['NOTIFICATION_JOBS_GATHER_MS', 'soon']] as const) {
    t.throws(() => loadConfig({ [name]: bad }), { name: 'ConfigError', message: new RegExp(name) }, `${name}=${bad}`);
  }
});

t.test('REDIS_URL: where every instance counts its rate limits; unset, each counts alone', async (t) => {
  t.equal(loadConfig({}).rateLimit.redisUrl, undefined, 'unset: in memory');
  t.equal(loadConfig({ REDIS_URL: '' }).rateLimit.redisUrl, undefined, 'empty is unset');
  for (const good of ['redis://127.0.0.1:6379', 'rediss://user:secret@redis.example.com:6380/2', 'redis://[::1]:6379']) {
    t.equal(loadConfig({ REDIS_URL: good }).rateLimit.redisUrl, good, good);
  }
  for (const bad of ['127.0.0.1:6379', 'http://127.0.0.1:6379', 'redis://', 'redis:///0', 'postgres://u:hunter2@h/db', 'redis://u:hunter2@[bad']) {
    t.throws(() => loadConfig({ REDIS_URL: bad }), { name: 'ConfigError', message: /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/ }, bad);
    t.throws(() => loadConfig({ REDIS_URL: bad }), { message: /^(?!.*hunter2)/ }, `${bad}: the value (it may hold a password) is not repeated`);
  }
});
