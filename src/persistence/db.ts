// Opens the ORM over every domain's entities and applies the committed migrations.
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MikroORM, defineConfig, type EntityManager } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { TransactionContext, type LogContext, type Logger } from '@mikro-orm/core';
import { silentLog, type Log } from '../log.ts';
import { accountsEntities } from './accounts/entities.ts';
import { channelsEntities } from './channels/entities.ts';
import { idempotencyEntities } from './idempotency/entities.ts';
import { notificationsEntities } from './notifications/entities.ts';
import { postsEntities } from './posts/entities.ts';
import { socialEntities } from './social/entities.ts';

export type Orm = MikroORM;

export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));
/** `.ts` when running from src/ (development, tests), `.js` when running the build in dist/ (`npm start`). */
const migrationsExtension = import.meta.url.endsWith('.js') ? 'js' : 'ts';

export interface DatabaseOptions {
  clientUrl: string;
  poolMax?: number;
  /**
   * Receives every SQL statement the ORM runs, with its duration and whether it failed (for
   * tests and metrics). A failure may be one the caller handles, such as a unique violation.
   */
  onQuery?: (sql: string, tookMs: number | undefined, failed: boolean) => void;
  /** Where the ORM's own warnings go (e.g. a pooled connection dropped by the server). */
  log?: Log;
  /** How long to wait for a connection, new or from the pool, before failing the query. */
  connectTimeoutMs?: number;
}

/** A MikroORM logger that reports executed queries to `onQuery` and the ORM's warnings to `log`. */
class OrmLogger implements Logger {
  readonly #onQuery: DatabaseOptions['onQuery'];
  readonly #log: Log;
  constructor(onQuery: DatabaseOptions['onQuery'], log: Log) {
    this.#onQuery = onQuery;
    this.#log = log;
  }
  log(namespace: string, message: string): void {
    this.#log.debug({ namespace }, message);
  }
  error(namespace: string, message: string): void {
    this.#log.error({ namespace }, message);
  }
  warn(namespace: string, message: string): void {
    this.#log.warn({ namespace }, message);
  }
  logQuery(context: LogContext): void {
    this.#onQuery?.(context.query ?? '', context.took, context.level === 'error');
  }
  setDebugMode(): void {}
  isEnabled(namespace: string): boolean {
    return namespace === 'query' && this.#onQuery !== undefined;
  }
}

/** What `pg`'s pool tells about itself, and runs. */
interface PoolLike {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
  query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface PoolStats {
  max: number;
  /** Connections open, checked out or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

/**
 * What a statement's answer, or its lack, tells about the database: see `guardQueries`. Set once
 * the server is built, so that the migrations run before it have no deadline.
 */
export interface QueryGuard {
  /** The longest a statement may wait for its answer before its connection is given up. */
  deadlineMs: number;
  /** A statement was answered (successfully or with an SQL error): the database is there. */
  onAnswer(): void;
  /** A statement or a connection got no answer: lost, refused, or past its deadline. */
  onNoAnswer(error: Error): void;
}

/** A statement that got no answer within its deadline; its connection has been closed. */
export class QueryDeadlineError extends Error {
  override name = 'QueryDeadlineError';
  constructor(deadlineMs: number, cause: unknown) {
    super(`the database is unreachable: no answer within ${deadlineMs} ms`, { cause });
  }
}

type Callback = (error: Error | null, result?: unknown) => void;
const PgClient = pg.Client as unknown as new (config?: unknown) => {
  connection: { stream: { destroy(): void } };
  query(config: unknown, values?: unknown, callback?: unknown): unknown;
  connect(callback?: unknown): unknown;
};

/**
 * The pool's connection class: `pg`'s, with a client-side deadline on every statement that holds
 * even when the server is frozen (a `statement_timeout` needs a server that runs; `pg`'s own
 * `query_timeout` leaves the connection in the pool with the statement still pending, in the
 * middle of whatever transaction it belonged to). Past the deadline the socket is destroyed:
 * every statement of the connection fails, the pool discards it instead of lending it again, and
 * PostgreSQL, when it next looks, rolls back whatever transaction was open on it (a COMMIT
 * already sent may still land: a keyed request's record commits with its data, so a retry
 * replays it or runs it afresh, never half of it).
 */
function guardedClient(guards: { current?: QueryGuard }) {
  return class GuardedClient extends PgClient {
    #gaveUp: QueryDeadlineError | undefined;

    /**
     * A statement's outcome as its caller gets it (the error of a connection closed by the
     * deadline is the deadline's), after telling the guard what it says about the database.
     */
    #settle(timer: NodeJS.Timeout | undefined, error: Error | null): Error | null {
      clearTimeout(timer);
      const guard = guards.current;
      if (!guard) return error;
      const outcome = error && this.#gaveUp ? this.#gaveUp : error;
      if (outcome && isConnectionFailure(outcome)) guard.onNoAnswer(outcome);
      // Only the server's own answers, rows or an SQL error, say that it is there: not the
      // driver's refusals of a closed client.
      else if (!outcome || outcome instanceof pg.DatabaseError) guard.onAnswer();
      return outcome;
    }

    #arm(): NodeJS.Timeout | undefined {
      const guard = guards.current;
      if (!guard || guard.deadlineMs <= 0) return undefined;
      return setTimeout(() => {
        this.#gaveUp ??= new QueryDeadlineError(guard.deadlineMs, undefined);
        this.connection.stream.destroy();
      }, guard.deadlineMs);
    }

    /** The connection is gone: given up at a deadline, or lost. */
    #lost(): boolean {
      return this.#gaveUp !== undefined || (this as unknown as { _queryable: boolean })._queryable === false;
    }

    override query(config: unknown, values?: unknown, callback?: unknown): unknown {
      // Cursors (submittables) are not used by the application; they go unguarded.
      if (typeof (config as { submit?: unknown } | null)?.submit === 'function' || !guards.current) return super.query(config, values, callback);
      const text = typeof config === 'string' ? config : (config as { text?: unknown }).text;
      if (this.#lost() && typeof text === 'string' && /^\s*rollback\s*;?\s*$/i.test(text)) {
        // The ROLLBACK of a transaction whose connection is gone: PostgreSQL ends that transaction
        // itself. Failing it would leak the connection: Kysely hands a transaction's connection
        // back to the pool only once its ROLLBACK (or COMMIT) succeeds, and the pool then drops
        // it, since it is no longer queryable.
        const empty = { command: 'ROLLBACK', rowCount: null, rows: [], fields: [] };
        const done = typeof values === 'function' ? values : callback;
        if (typeof done === 'function') return void process.nextTick(() => (done as Callback)(null, empty));
        return Promise.resolve(empty);
      }
      const timer = this.#arm();
      if (typeof values === 'function' || typeof callback === 'function') {
        const done = (typeof values === 'function' ? values : callback) as Callback;
        const guarded: Callback = (error, result) => done(this.#settle(timer, error), result);
        return typeof values === 'function' ? super.query(config, guarded) : super.query(config, values, guarded);
      }
      return (super.query(config, values) as Promise<unknown>).then(
        (result) => {
          this.#settle(timer, null);
          return result;
        },
        (error: Error) => {
          throw this.#settle(timer, error);
        },
      );
    }

    override connect(callback?: unknown): unknown {
      const report = (error: Error | null) => {
        if (error && guards.current && isConnectionFailure(error)) guards.current.onNoAnswer(error);
      };
      if (typeof callback === 'function') {
        return super.connect((error: Error | null) => {
          report(error);
          (callback as Callback)(error);
        });
      }
      return (super.connect() as Promise<unknown>).catch((error: Error) => {
        report(error);
        throw error;
      });
    }
  };
}

/** Each ORM's query guard, once set. */
const guardsOf = new WeakMap<Orm, { current?: QueryGuard }>();

/**
 * From now on, every statement of `orm`'s pool gets `guard.deadlineMs` to answer, and `guard`
 * hears of every answer and every failure to get one.
 */
export function guardQueries(orm: Orm, guard: QueryGuard): void {
  const guards = guardsOf.get(orm);
  if (!guards) throw new Error('guardQueries: this ORM was not opened by openDatabase');
  guards.current = guard;
}

/** The pool of each ORM, which MikroORM creates when it first connects. */
const pools = new WeakMap<Orm, () => PoolLike | undefined>();
/** Each ORM's `onQuery`, which `queryRows` reports to as the ORM's logger does. */
const queryObservers = new WeakMap<Orm, NonNullable<DatabaseOptions['onQuery']>>();

export function ormConfig(options: DatabaseOptions) {
  return defineConfig({
    clientUrl: options.clientUrl,
    entities: [...accountsEntities, ...socialEntities, ...channelsEntities, ...postsEntities, ...idempotencyEntities, ...notificationsEntities],
    extensions: [Migrator],
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: `!(*.d).${migrationsExtension}`,
      emit: 'ts',
      // The schema check compares entities with a database migrated from scratch,
      // so no snapshot file is kept.
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      silent: true,
    },
    preferTs: true,
    forceUtcTimezone: true,
    allowGlobalContext: false,
    ensureDatabase: false,
    pool: { min: 0, max: options.poolMax ?? 10 },
    driverOptions: { connectionTimeoutMillis: options.connectTimeoutMs ?? 5000 },
    debug: options.onQuery ? ['query'] : false,
    loggerFactory: () => new OrmLogger(options.onQuery, options.log ?? silentLog),
  });
}

export async function openDatabase(options: DatabaseOptions): Promise<Orm> {
  const config = ormConfig(options);
  let pool: PoolLike | undefined;
  const guards: { current?: QueryGuard } = {};
  config.driverOptions = { ...config.driverOptions, Client: guardedClient(guards), onPoolCreated: (created: PoolLike) => void (pool = created) };
  const orm = await MikroORM.init(config);
  pools.set(orm, () => pool);
  guardsOf.set(orm, guards);
  if (options.onQuery) queryObservers.set(orm, options.onQuery);
  return orm;
}

/**
 * A timestamp column of a `queryRows` row: `pg` already gives a Date (kept, not copied);
 * MikroORM's path inside a transaction may give the text.
 */
export function asDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

/** `?` placeholders (MikroORM's) as `$1, $2…` (PostgreSQL's). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
const numberedCache = new Map<string, string>();

/**
 * Runs one statement (`?` placeholders; scalars only, no array parameters) and returns its
 * rows (use RETURNING for a write). Inside a transaction (see `inTransaction`) it joins it
 * through MikroORM. Outside one, the hot path, it goes straight to the ORM's pool as a
 * parameterized statement: MikroORM would inline every parameter into the SQL text and build a
 * query context first, which costs several times the CPU of the statement itself on the
 * request's path (bench/README.md).
 * Reported to `onQuery` like every other statement.
 */
export async function queryRows(orm: Orm, sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  const pool = pools.get(orm)?.();
  if (!pool || TransactionContext.getEntityManager(orm.em.name)?.isInTransaction()) {
    return storeEm(orm).execute<Record<string, unknown>[]>(sql, params);
  }
  let text = numberedCache.get(sql);
  if (text === undefined) {
    text = numbered(sql);
    if (numberedCache.size < 1000) numberedCache.set(sql, text);
  }
  const observe = queryObservers.get(orm);
  const started = performance.now();
  try {
    const { rows } = await pool.query(text, params);
    observe?.(sql, performance.now() - started, false);
    return rows;
  } catch (error) {
    observe?.(sql, performance.now() - started, true);
    throw error;
  }
}

/** How busy the connection pool is; undefined before the ORM has created it. */
export function poolStats(orm: Orm): PoolStats | undefined {
  const pool = pools.get(orm)?.();
  if (!pool) return undefined;
  return { max: pool.options.max, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

/**
 * The EntityManager a store uses for one operation: a fresh fork with an empty identity map,
 * which joins the transaction running in this async context, if there is one (see
 * `inTransaction`), and runs on its own pooled connection otherwise. Every store gets its
 * EntityManager here, never from `orm.em.fork()` itself: a plain fork made inside a
 * transaction would leave it, writing outside it (and, under load, waiting for a second pooled
 * connection while holding the first).
 */
export function storeEm(orm: Orm): EntityManager {
  return orm.em.fork({ clear: true, useContext: false, keepTransactionContext: true });
}

/**
 * Runs `work` in one database transaction: every store call made inside it, at any depth,
 * joins it (MikroORM's TransactionContext follows the async context). Commits when `work`
 * resolves, rolls back when it throws.
 */
export async function inTransaction<T>(orm: Orm, work: (em: EntityManager) => Promise<T>): Promise<T> {
  return orm.em.transactional(async () => work(storeEm(orm)));
}

/**
 * The session-level advisory lock that serializes migration runs across processes (the
 * two-integer form, a key space apart from the one-bigint locks of idempotency and social).
 */
const MIGRATION_LOCK = [0x61676f72, 1] as const; // 'agor', 1

/**
 * Applies pending migrations; returns the names of those it ran. Several instances starting
 * at once on one database take turns: each holds an advisory lock, on a connection of its
 * own, for its whole run, so the others wait and then find nothing pending (without it,
 * two would both create the first schema, and one would die of a duplicate key). A holder
 * that dies frees the lock with its connection.
 */
export async function migrate(orm: Orm, options: { log?: Log } = {}): Promise<string[]> {
  const lock = new pg.Client({ connectionString: orm.config.get('clientUrl'), application_name: 'agora-migrations' });
  lock.on('error', () => {}); // a dropped connection fails the query below instead
  await lock.connect();
  try {
    const [{ locked }] = (await lock.query('select pg_try_advisory_lock($1, $2) as locked', [...MIGRATION_LOCK])).rows as [{ locked: boolean }];
    if (!locked) {
      (options.log ?? silentLog).info({}, 'another process is migrating the database; waiting for it');
      await lock.query('select pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
    }
    const ran = await orm.migrator.up();
    return ran.map((m) => m.name);
  } finally {
    await lock.end().catch(() => {}); // ending the session releases the lock
  }
}

export async function pendingMigrations(orm: Orm): Promise<string[]> {
  return (await orm.migrator.getPending()).map((m) => m.name);
}

/** True when the entities describe a schema that the migrations do not produce. */
export async function schemaDiffersFromMigrations(orm: Orm): Promise<boolean> {
  return orm.migrator.checkSchema();
}

/** Node's and PostgreSQL's ways of saying "no connection", as opposed to a failed statement. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '53300', // too many connections
  '57P01', '57P02', '57P03', // the server is shutting down or starting up
]);
const CONNECTION_ERROR_MESSAGES = /timeout exceeded when trying to connect|timeout expired|Connection terminated|Client has encountered a connection error|database is unreachable/i;

/** True when `error` means the database could not be reached, rather than that a query was wrong. */
export function isConnectionFailure(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof QueryDeadlineError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    if (CONNECTION_ERROR_MESSAGES.test(e.message)) return true;
  }
  return false;
}
