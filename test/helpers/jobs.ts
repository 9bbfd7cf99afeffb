// The test queue of the job queue tests, and the database pieces it needs.
import pg from 'pg';
import type { Consumer } from '../../src/jobs/index.ts';
import type { Row, UnitOfWork } from '../../src/persistence/sql.ts';

/** The test queue: no backoff, a short expiry (a worker that dies is noticed within seconds). */
export const TEST_QUEUE = 'test-effects';

/**
 * Creates, in the database of `url`, the test queue (retried twice at once, then dead-lettered;
 * expired after 2 s) and the table its consumer writes: one row per job key, so that an effect
 * written twice is a duplicate key.
 */
export async function createTestQueue(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`select pgboss.create_queue($1, $2::jsonb)`, [
      TEST_QUEUE,
      JSON.stringify({ policy: 'standard', retryLimit: 2, retryDelay: 0, expireInSeconds: 2, deadLetter: 'dead-letters' }),
    ]);
    await client.query(`select pgboss.create_queue('test-idle', '{"policy":"standard"}'::jsonb)`);
    await client.query('create table test_effect (key text primary key, attempt int not null)');
  } finally {
    await client.end();
  }
}

/** What a test job asks of its consumer. */
export interface EffectJob {
  key: string;
  /** Hold the first attempt this long after writing its effect (forever when -1). */
  holdMs?: number;
  /** Fail this many attempts (after writing their effect, which then rolls back). */
  failures?: number;
}

/**
 * The consumer of the test queue: writes its effect (a row keyed by the job's key) in the job's
 * unit of work, then holds or fails as the job asks. `say` receives `{ msg: 'holding', key }`
 * once the first attempt holds.
 */
export function testEffects(say: (line: Record<string, unknown>) => void = () => {}): Consumer {
  return {
    queue: TEST_QUEUE,
    async handle(data, job) {
      const { key, holdMs = 0, failures = 0 } = data as unknown as EffectJob;
      await job.uow.query('insert into test_effect (key, attempt) values ($1, $2)', [key, job.retryCount]);
      if (holdMs !== 0 && job.retryCount === 0) {
        say({ msg: 'holding', key });
        await new Promise((done) => {
          if (holdMs > 0) setTimeout(done, holdMs);
        });
      }
      if (job.retryCount < failures) throw new Error(`planned failure of attempt ${job.retryCount}`);
    },
  };
}

/**
 * A unit of work over a client of the test's own, in whatever transaction it has open (or none):
 * one whose commit is the test's, not ours to see, so a new job's wake-up goes inside it
 * (`notifyOnCommit`), delivered at its commit.
 */
export function clientUow(client: pg.Client): UnitOfWork {
  return {
    transaction: true,
    query: async <R extends Row = Row>(sql: string, params?: readonly unknown[]) => (await client.query(sql, params ? [...params] : [])).rows as R[],
  };
}

/**
 * Waits until every domain event job enqueued so far has run (none waiting, retrying or active):
 * what a request published before this call is then in the notifications, or never will be.
 * `sql` runs a query on the database the queue lives in. Generous: the machine may be busy.
 */
export async function domainEventsSettled(sql: (text: string) => Promise<Record<string, any>[]>, timeoutMs = 20_000): Promise<void> {
  const pendingJobs = `select state::text, retry_count, output from pgboss.job where name = 'events.notifications' and state < 'completed'`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ pending }] = (await sql(`select count(*)::int as pending from pgboss.job where name = 'events.notifications' and state < 'completed'`)) as [{ pending: number }];
    if (pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending} domain event job(s) still pending after ${timeoutMs} ms: ${JSON.stringify(await sql(pendingJobs))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
