// The job queue: pg-boss on Agora's own database (its `pgboss` schema and the queues are created by
// a migration, Migration20261202000000), so the embedded default needs no other server. This is the
// only module that knows pg-boss; the rest of src/jobs/ declares consumers and schedules in
// Agora's terms, and the code that causes a job enqueues it with `send`, inside its own unit of work.
//
// pg-boss runs on a small pool of its own (JOBS_POOL_MAX connections). Its locks are
// transaction-level advisory locks. A worker also holds one connection that LISTENs, so that a
// new job wakes it at once: once the enqueuing transaction has committed, this queue sends a
// NOTIFY on pg-boss's channel with the queue's name, gathered with the instance's others
// (src/persistence/notices.ts). pg-boss's own (a queue created with `notify: true`) went inside
// the enqueuing transaction, and a transaction that notifies commits only after every other one
// that does (PostgreSQL's one notification lock): every message sent waited its turn. So the
// queues no longer notify (Migration20261206090000). The wake-up is only a shortcut: polling goes
// on (JOBS_POLL_INTERVAL_MS), so where LISTEN cannot be held pg-boss warns and the jobs are
// picked up at the next poll, as is a job whose wake-up its process died before sending.
//
// Behind a pooler in transaction mode (PgBouncer: DATABASE_URL is the pooler,
// DATABASE_DIRECT_URL the primary), pg-boss's pool goes through the pooler (each of its statements
// is one statement or one transaction, its locks transaction-level, its prepared statements
// unnamed), and its LISTEN rides on the instance's one direct connection (`listen`, the cache
// invalidation listener), since a LISTEN through the pooler would never hear a thing.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { PgBoss, type Db, type Job } from 'pg-boss';
import { atCommit, CallbackFormClient, inlined, isConnectionFailure, Notices, notifyOnCommit, type Queryable, type Row, type UnitOfWork } from '../persistence/sql.ts';

/** What the job of one queue carries (JSON). */
export type JobData = Record<string, unknown>;

/** What a consumer's handler gets besides the job's data. */
export interface JobContext {
  /** The job's id in the queue. */
  id: string;
  /** 0 on the first attempt, then how many attempts came before (failed, or cut short by a crash). */
  retryCount: number;
  /**
   * The job's unit of work: what is written through it commits together with the job's
   * completion, or not at all. A worker that dies mid-job leaves none of it behind, and the
   * attempt that repeats the job writes it once.
   */
  uow: UnitOfWork;
  /** Aborted when the worker stops waiting for this job (shutdown past its timeout). */
  signal: AbortSignal;
}

/** Runs the jobs of one queue: thin, it calls a service. */
export interface Consumer {
  queue: string;
  /**
   * Jobs of the queue this process runs at once (1 when undefined), each in a transaction of its
   * own: a queue whose jobs arrive faster than one at a time can run them (each job waits on its
   * round trips, not on this process's CPU) gets several. Its jobs then run in no set order, as
   * they already do across worker processes.
   */
  concurrency?: number;
  /**
   * Jobs a worker fetches at once (1 when undefined), run one after the other in one
   * transaction, each in a savepoint of its own: a job that fails is rolled back to its
   * savepoint and failed (retried) alone, and the others complete together, in one commit. A
   * backlog then costs a round trip or two a job instead of five.
   */
  batchSize?: number;
  /**
   * The key a batch runs its jobs in the order of (jobs without one first; equal keys as pg-boss
   * fetched them, which is no set order). It begins with the key of the lock the job's handler
   * takes, when it takes one, so that two batches run at once never each hold a lock the other
   * waits for; what follows orders the jobs of one lock (a message's time-ordered id).
   */
  orderKey?(data: JobData): string | undefined;
  handle(data: JobData, job: JobContext): Promise<void>;
  /**
   * Jobs of a batch that run together: adjacent jobs (in their keys' order) with the same key
   * here run as one call of `handleTogether`, in one savepoint (undefined: the job runs alone).
   * When that call fails, they are rolled back to the savepoint and run one at a time, each in a
   * savepoint of its own, so that only the job that fails alone is failed.
   */
  togetherKey?(data: JobData): string | undefined;
  /**
   * Gathering (0 when undefined): the worker's wake-ups (a new job's notification, the end of a
   * batch that was not full) are spaced at least this many milliseconds apart, so that jobs that
   * arrive meanwhile are fetched, and run, in one batch rather than one by one. A job that
   * arrives after a quiet spell is fetched at once; one that arrives in a stream of them waits
   * up to this long. A full batch is followed by the next fetch at once (a backlog).
   */
  gatherMs?: number;
  /** Runs the jobs that `togetherKey` put together, their data in the batch's order. */
  handleTogether?(data: readonly JobData[], jobs: JobsContext): Promise<void>;
}

/** What `handleTogether` gets besides the jobs' data. */
export interface JobsContext {
  /** The jobs' ids, in the order of their data. */
  ids: string[];
  /** The batch's unit of work (see `JobContext.uow`). */
  uow: UnitOfWork;
  /** Aborted when the worker stops waiting for the first of these jobs. */
  signal: AbortSignal;
}

/** A queue fed by a cron expression (UTC; a sixth, leading field counts seconds). */
export interface Schedule {
  queue: string;
  cron: string;
}

/** What a job's attempt came to, for the metrics. */
export type AttemptOutcome = 'completed' | 'failed';

/** A queue's backlog, read at scrape time. */
export interface QueueBacklog {
  queue: string;
  /** Jobs waiting: created or waiting for a retry, due now or later. */
  depth: number;
  /** Jobs being processed by a worker now. */
  active: number;
  /** Seconds the oldest job due now has waited for a worker (0 when none). */
  oldestAgeSeconds: number;
}

export interface JobQueueOptions {
  /** The database pg-boss runs on: Agora's own. */
  connectionString: string;
  /**
   * Where the worker LISTENs for its wake-ups, instead of a connection of pg-boss's own on
   * `connectionString` (which then may be a pooler in transaction mode).
   */
  listen?: {
    subscribe(channel: string, onNotification: (payload: string) => void, onReconnect: () => void): Promise<{ close(): Promise<void> }>;
  };
  /**
   * Where new jobs' wake-ups go once their transactions have committed: the instance's (its
   * Database's), so that they share its statements with the other wake-ups; undefined, a Notices
   * of the queue's own, on pg-boss's pool.
   */
  notices?: Notices;
  /** pg-boss's pool size; undefined: `jobPoolSize` of the consumers this process runs. */
  poolMax: number | undefined;
  /** Run the consumers and schedules (a worker); false for an instance that only enqueues. */
  worker: boolean;
  consumers: readonly Consumer[];
  schedules: readonly Schedule[];
  /** How often an idle worker asks for jobs. */
  pollingIntervalSeconds: number;
  /** How often expired jobs (of a dead worker) are failed over to a retry, and schedules are checked. */
  superviseIntervalSeconds: number;
  /** Told of every attempt's outcome. */
  onAttempt(queue: string, outcome: AttemptOutcome, retry: boolean): void;
  /** pg-boss's own errors and warnings (a lost connection, a slow query), which it survives. */
  onError(error: Error): void;
  onWarning(warning: { message: string; data: object }): void;
  /**
   * Called once the queue can enqueue, before its consumers start: a consumer that publishes
   * (a clean-up that deletes in turn, e.g. a closed account's channels) may run at once.
   */
  onReady?(queue: JobQueue): void;
}

/**
 * `jobs` in the order of their keys (`Consumer.orderKey`; without one, or without `orderKey`,
 * first), equal keys in the order they were enqueued (`createdOn`: pg-boss answers a fetch in no
 * set order), then as fetched (jobs of one transaction share their time).
 */
export function inKeyOrder<J extends { data: JobData | null | undefined; createdOn?: Date }>(jobs: readonly J[], orderKey: ((data: JobData) => string | undefined) | undefined): J[] {
  const keyed = jobs.map((job, at) => ({ job, at, key: orderKey?.(job.data ?? {}) ?? '', time: job.createdOn?.getTime() ?? 0 }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.time - b.time || a.at - b.at));
  return keyed.map(({ job }) => job);
}

/**
 * Wake-ups spaced at least `intervalMs` apart: `request` wakes at once when the last wake-up was
 * that long ago, and otherwise once it is, however many requests come meanwhile (one is pending
 * at most); `now` wakes at once whatever the spacing.
 */
export class Spacer {
  readonly #intervalMs: number;
  readonly #wake: () => void;
  readonly #timers: SpacerTimers;
  #last = Number.NEGATIVE_INFINITY;
  #timer: unknown;

  constructor(intervalMs: number, wake: () => void, timers: SpacerTimers = REAL_TIMERS) {
    this.#intervalMs = intervalMs;
    this.#wake = wake;
    this.#timers = timers;
  }

  request(): void {
    if (this.#timer !== undefined) return;
    const wait = this.#last + this.#intervalMs - this.#timers.now();
    if (wait <= 0) return this.now();
    this.#timer = this.#timers.after(wait, () => this.now());
  }

  now(): void {
    this.stop();
    this.#last = this.#timers.now();
    this.#wake();
  }

  /** Nothing pending wakes any more. */
  stop(): void {
    if (this.#timer !== undefined) this.#timers.cancel(this.#timer);
    this.#timer = undefined;
  }
}

/** The clock and timers a Spacer uses (real ones but in its unit test). */
export interface SpacerTimers {
  now(): number;
  after(ms: number, run: () => void): unknown;
  cancel(timer: unknown): void;
}

const REAL_TIMERS: SpacerTimers = {
  now: () => performance.now(),
  after: (ms, run) => setTimeout(run, ms),
  cancel: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/**
 * `jobs` (in the order they run) in runs of adjacent jobs with the same `togetherKey`; a job
 * without one is a run of its own.
 */
export function togetherRuns<J extends { data: JobData | null | undefined }>(jobs: readonly J[], consumer: Pick<Consumer, 'togetherKey'>): J[][] {
  const runs: J[][] = [];
  let last: string | undefined;
  for (const job of jobs) {
    const key = consumer.togetherKey?.(job.data ?? {});
    if (key !== undefined && key === last) runs.at(-1)!.push(job);
    else runs.push([job]);
    last = key;
  }
  return runs;
}

/**
 * pg-boss's view of a unit of work: the statements it runs join that transaction. With
 * `holding`, a statement is held until the transaction's COMMIT when it can be (`atCommit`), and
 * answered at once with no rows: pg-boss's job insert, whose text is the same for every job of a
 * queue and types its one parameter (`$1::text::json`), so it is prepared once per connection
 * (`reused`).
 */
function adapter(uow: Queryable, holding = false): Db {
  return {
    executeSql: async (text: string, values?: unknown[]) => {
      if (holding && atCommit(uow, { sql: text, params: values ?? [], reused: true })) return { rows: [] };
      return { rows: await uow.query<Row>(text, values ?? []) };
    },
  };
}

/** A unit of work over pg-boss's view of a transaction (a transactional worker's job). */
function unitOfWork(db: Db): UnitOfWork {
  return {
    transaction: true,
    query: async <R extends Row = Row>(sql: string, params?: readonly unknown[]) => (await db.executeSql(sql, params ? [...params] : [])).rows as R[],
    // A text without parameters goes to the connection's client (CallbackFormClient) as one simple
    // query, which answers with one result per statement.
    together: async (statements) => {
      const results = (await db.executeSql(statements.map(inlined).join(';\n'))) as unknown as { rows: Row[] } | { rows: Row[] }[];
      return Array.isArray(results) ? results.map((result) => result.rows) : [results.rows];
    },
  };
}

/**
 * pg-boss's pool when JOBS_POOL_MAX is unset. Every job runs in a transaction that holds one of the
 * pool's connections while its handler runs, so a worker needs one per job it runs at once (each
 * consumer's concurrency) plus two for the fetches, the failures and the supervision meanwhile
 * (with fewer, those wait for a handler to finish, and pg-boss warns at start); an instance that
 * only enqueues (in its callers' transactions) needs a few for the backlog and the schema check.
 */
export function jobPoolSize(worker: boolean, consumers: readonly Pick<Consumer, 'concurrency'>[]): number {
  const atOnce = consumers.reduce((sum, consumer) => sum + (consumer.concurrency ?? 1), 0);
  return worker ? Math.max(4, atOnce + 2) : 4;
}

/**
 * How pg-boss connects: to `connectionString`, with a pool of `max`. pg-boss hands these options to
 * `pg`'s pool, which takes its client class from them: one whose promise form, which pg-boss uses
 * for every statement of a job's transaction, keeps the statement's rows young (`CallbackFormClient`).
 */
export function connectionOptions(connectionString: string, max: number): { connectionString: string; max: number; application_name: string; Client: typeof CallbackFormClient } {
  return { connectionString, max, application_name: 'agora-jobs', Client: CallbackFormClient };
}

/**
 * pg-boss reads its schedules' cron expressions with cron-parser, which does its date arithmetic
 * with luxon. Left to its defaults, luxon asks `Intl.DateTimeFormat` for the system's locale and
 * time zone the first time. V8 then builds its list of the locales that have calendars: it opens
 * a resource of every locale in the ICU data that Node carries, about 5 MB of Node's binary in
 * Agora's process, which then stays resident (bench/README.md, "ICU's locale data"). The
 * schedules are in UTC (`boss.schedule(…, { tz: 'UTC' })`) and luxon formats nothing here, so
 * these defaults give the same times without that. luxon's settings belong to its module
 * instance: cron-parser `require`s luxon, which loads luxon's CommonJS build, so that is the one
 * set here (an `import` would load its ES build, a second instance). Nothing else in the process
 * uses luxon. test/icu-data.test.ts checks that starting a worker creates no
 * `Intl.DateTimeFormat`.
 */
function luxonWithoutIntl(): void {
  const { Settings } = createRequire(import.meta.url)('luxon') as typeof import('luxon');
  Settings.defaultZone = 'utc';
  Settings.defaultLocale = 'en-US';
  Settings.defaultNumberingSystem = 'latn';
  Settings.defaultOutputCalendar = 'gregory';
}

/**
 * The channel pg-boss LISTENs on for its queues' wake-ups (the payload: a queue's name), as its
 * `notifyChannelSql` derives it from its schema (`pgboss`, the default Agora keeps).
 */
export const JOB_WAKE_CHANNEL = `pgboss_${createHash('sha224').update('pgboss').digest('hex').slice(0, 24)}`;

export class JobQueue {
  readonly #boss: PgBoss;
  readonly #options: JobQueueOptions;
  /** By queue whose consumer gathers its jobs (`gatherMs`): its workers' wake-ups. */
  readonly #spacers = new Map<string, Spacer>();
  /** New jobs' wake-ups, sent after their transactions' commits, gathered. */
  readonly #notices: Notices;

  private constructor(boss: PgBoss, options: JobQueueOptions) {
    this.#boss = boss;
    this.#options = options;
    this.#notices = options.notices ?? new Notices(
      (sql, params) => boss.getDb().executeSql(sql, params),
      (error, lost) => options.onWarning({ message: 'new jobs\' wake-ups could not be sent; the workers will find the jobs at their next poll', data: { error: (error as Error).message, lost } }),
    );
  }

  /** Connects, checks the schema (installed by the migrations), and starts the consumers and schedules. */
  static async start(options: JobQueueOptions): Promise<JobQueue> {
    luxonWithoutIntl();
    const boss = new PgBoss({
      ...connectionOptions(options.connectionString, options.poolMax ?? jobPoolSize(options.worker, options.consumers)),
      // The migrations create the schema and the queues; pg-boss only checks the version.
      migrate: false,
      // Expired and overdue jobs, cron: only where consumers run.
      supervise: options.worker,
      schedule: options.worker,
      superviseIntervalSeconds: options.superviseIntervalSeconds,
      monitorIntervalSeconds: options.superviseIntervalSeconds,
      cronMonitorIntervalSeconds: Math.min(45, options.superviseIntervalSeconds),
      cronWorkerIntervalSeconds: Math.min(45, Math.max(1, Math.round(options.pollingIntervalSeconds))),
      // Only a worker consumes; an instance that only enqueues needs no listening connection.
      useListenNotify: options.worker,
      // pg-boss's OpenTelemetry spans and instruments: no SDK is registered here, so each is a
      // no-op, yet each send, fetch and settle still built its attributes, a span and a context
      // (about 17 µs of a sent message's CPU in an on-CPU profile). The queue's own metrics are
      // Prometheus's (onAttempt, backlog).
      openTelemetry: { enabled: false },
    });
    const queue = new JobQueue(boss, options);
    // A new job's notification (its payload is the queue's name) wakes the queue's workers at
    // once, or, for a queue whose consumer gathers its jobs, through its spacer.
    const db = boss.getDb();
    const listen = options.listen;
    const subscribe = listen ? listen.subscribe.bind(listen) : db.listen?.bind(db);
    if (subscribe) {
      db.listen = (channel, onNotification, onReconnect) =>
        subscribe(channel, (payload: string) => (queue.#spacers.has(payload) ? queue.#spacers.get(payload)!.request() : onNotification(payload)), onReconnect);
    }
    boss.on('error', options.onError);
    boss.on('warning', options.onWarning);
    await boss.start();
    try {
      options.onReady?.(queue);
      if (options.worker) {
        for (const consumer of options.consumers) await queue.#consume(consumer);
        for (const { queue: name, cron } of options.schedules) await boss.schedule(name, cron, null, { tz: 'UTC' });
      }
    } catch (error) {
      await boss.stop({ graceful: false }).catch(() => {});
      throw error;
    }
    return queue;
  }

  async #consume(consumer: Consumer): Promise<void> {
    const { onAttempt, pollingIntervalSeconds } = this.#options;
    // One job at a time per worker, each in a transaction with its completion; `concurrency`
    // workers per queue and process. pg-boss waits its polling interval (with LISTEN/NOTIFY, a
    // 30 s backstop) after every fetch unless notified meanwhile, and a batch of one never counts
    // as "full" for its burst mode: a backlog enqueued at once would drain one job per interval.
    // So a worker that got a job notifies itself, and fetches again at once until a fetch comes
    // back empty. Each worker is registered with a work() of its own, which answers with its id
    // (pg-boss's localConcurrency answers with the first worker's only).
    // A queue that gathers its jobs (`gatherMs`): its workers' wake-ups go through a spacer,
    // which wakes them all (they share what is there to fetch).
    const batchSize = Math.max(1, consumer.batchSize ?? 1);
    const workerIds: string[] = [];
    const spacer = (consumer.gatherMs ?? 0) > 0 ? new Spacer(consumer.gatherMs!, () => workerIds.forEach((id) => this.#boss.notifyWorker(id))) : undefined;
    if (spacer) this.#spacers.set(consumer.queue, spacer);
    for (let i = 0; i < Math.max(1, consumer.concurrency ?? 1); i++) {
      let workerId: string | undefined;
      // A batch's jobs carry their times (includeMetadata), which order them (inKeyOrder).
      workerId = await this.#boss.work(consumer.queue, { batchSize, includeMetadata: batchSize > 1, pollingIntervalSeconds, transactional: true }, async (jobs: Job<JobData>[], tx: Db) => {
        if (jobs.length > 0 && workerId !== undefined) {
          // A full batch: there may be more at once. Otherwise, with a spacer, once it says so.
          if (!spacer) this.#boss.notifyWorker(workerId);
          else if (jobs.length >= batchSize) spacer.now();
          else spacer.request();
        }
        if (jobs.length === 1) {
          // Alone: a failure fails the transaction, which pg-boss rolls back and fails the job.
          const [job] = jobs as [Job<JobData>];
          const retry = job.retryCount > 0;
          try {
            await consumer.handle(job.data ?? {}, { id: job.id, retryCount: job.retryCount, uow: unitOfWork(tx), signal: job.signal });
          } catch (error) {
            onAttempt(consumer.queue, 'failed', retry);
            throw error;
          }
          onAttempt(consumer.queue, 'completed', retry);
          return;
        }
        await this.#runBatch(consumer, inKeyOrder(jobs as (Job<JobData> & { createdOn?: Date })[], consumer.orderKey), tx);
      });
      workerIds.push(workerId);
    }
  }

  /**
   * A batch's jobs, each in a savepoint of the batch's transaction, or several in one when the
   * consumer runs them together (`togetherKey`). One that fails is rolled back to its savepoint
   * and failed through the transaction (pg-boss then completes only the others, and counts the
   * failure as the handler's settle); jobs run together that fail are rolled back and run again
   * one at a time. The savepoints, held by the connection's client, go with the next statement.
   * A failure of the connection fails the batch.
   */
  async #runBatch(consumer: Consumer, jobs: readonly Job<JobData>[], tx: Db): Promise<void> {
    const { onAttempt } = this.#options;
    let held = false;
    // The previous savepoint is released as the next one is taken: both go with the next
    // statement. The last one's is left to the COMMIT.
    const savepoint = async () => {
      if (held) await tx.executeSql('release savepoint agora_job');
      await tx.executeSql('savepoint agora_job');
      held = true;
    };
    for (const group of togetherRuns(jobs, consumer)) {
      if (group.length > 1 && consumer.handleTogether) {
        await savepoint();
        try {
          await consumer.handleTogether(
            group.map((job) => job.data ?? {}),
            { ids: group.map((job) => job.id), uow: unitOfWork(tx), signal: group[0]!.signal },
          );
          for (const job of group) onAttempt(consumer.queue, 'completed', job.retryCount > 0);
          continue;
        } catch (error) {
          if (isConnectionFailure(error)) {
            for (const job of group) onAttempt(consumer.queue, 'failed', job.retryCount > 0);
            throw error;
          }
          // Each again alone, below: only the one that fails is failed.
          await tx.executeSql('rollback to savepoint agora_job');
        }
      }
      for (const job of group) {
        const retry = job.retryCount > 0;
        await savepoint();
        try {
          await consumer.handle(job.data ?? {}, { id: job.id, retryCount: job.retryCount, uow: unitOfWork(tx), signal: job.signal });
        } catch (error) {
          onAttempt(consumer.queue, 'failed', retry);
          if (isConnectionFailure(error)) throw error;
          await tx.executeSql('rollback to savepoint agora_job');
          await this.#boss.fail(consumer.queue, job.id, error as object, { db: tx });
          continue;
        }
        onAttempt(consumer.queue, 'completed', retry);
      }
    }
  }

  /**
   * Enqueues a job in `uow`, the transaction of the write that causes it: it exists once that
   * commits, and never if it rolls back. Resolves with the job's id.
   */
  async send(uow: Queryable, queue: string, data: JobData, options: { singletonKey?: string; startAfterSeconds?: number } = {}): Promise<string | null> {
    const id = await this.#boss.send(queue, data, {
      db: adapter(uow),
      ...(options.singletonKey === undefined ? {} : { singletonKey: options.singletonKey }),
      ...(options.startAfterSeconds === undefined ? {} : { startAfter: options.startAfterSeconds }),
    });
    // A job due later is found by the poll that comes after it is due.
    if (id !== null && options.startAfterSeconds === undefined) await this.#wakeAfterCommit(uow, queue);
    return id;
  }

  /**
   * Enqueues a job in `uow` as `send` does, but sends its insert with the transaction's COMMIT, in
   * the same round trip (`atCommit`), when `uow` is a unit of work `Database.transaction` opened: a
   * round trip less for every write that publishes a domain event. pg-boss runs one statement
   * through the adapter, the insert; its answer is then empty, so no id comes back. Elsewhere (a
   * job's transaction) the insert is sent at once.
   */
  async enqueue(uow: Queryable, queue: string, data: JobData): Promise<void> {
    await this.#boss.send(queue, data, { db: adapter(uow, true) });
    await this.#wakeAfterCommit(uow, queue);
  }

  /**
   * The queue's workers, in every process, woken once `uow` has committed (`notifyOnCommit`:
   * after the commit, gathered; inside a job's transaction, whose commit pg-boss makes).
   */
  #wakeAfterCommit(uow: Queryable, queue: string): Promise<void> {
    return notifyOnCommit(this.#notices, uow, JOB_WAKE_CHANNEL, [queue]);
  }

  /** Resolves once the new jobs' wake-ups sent before have gone (or failed). */
  settled(): Promise<void> {
    return this.#notices.settled();
  }

  /** Every queue's backlog, in one statement. */
  async backlog(): Promise<QueueBacklog[]> {
    const { rows } = await this.#boss.getDb().executeSql(
      `select q.name as queue,
              count(j.id) filter (where j.state < 'active') as depth,
              count(j.id) filter (where j.state = 'active') as active,
              coalesce(extract(epoch from now() - min(j.start_after) filter (where j.state < 'active' and j.start_after <= now())), 0) as oldest
         from pgboss.queue q
         left join pgboss.job j on j.name = q.name and j.state <= 'active'
        group by q.name`,
    );
    return rows.map((row: { queue: string; depth: string; active: string; oldest: string }) => ({
      queue: row.queue,
      depth: Number(row.depth),
      active: Number(row.active),
      oldestAgeSeconds: Number(row.oldest),
    }));
  }

  /**
   * Stops fetching, waits up to `timeoutMs` for the jobs in progress, then fails those still
   * running (they are retried elsewhere) and closes the pool.
   */
  async stop(timeoutMs: number): Promise<void> {
    for (const spacer of this.#spacers.values()) spacer.stop();
    await this.#notices.settled();
    await this.#boss.stop({ graceful: true, timeout: timeoutMs });
    // The pool has ended, but its connections' sockets may still be closing (pg-boss gives them
    // 10 ms): the database stopped next (the embedded one) would end them with "terminating
    // connection due to administrator command", which the pool reports as an error. The queue
    // has stopped; what its closing connections say is not an error of the process.
    this.#boss.off('error', this.#options.onError);
    this.#boss.on('error', () => {});
  }
}
