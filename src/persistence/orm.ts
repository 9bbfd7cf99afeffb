// Opens MikroORM over the domains' entities and migrations (the composition root collects them:
// the persistence layer knows no domain list). MikroORM keeps the entities, the migrations and the
// schema check, and creates the connection pool that the stores' SQL runs on (see sql.ts).
import { fileURLToPath } from 'node:url';
import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import { Migrator, type Migration } from '@mikro-orm/migrations';
import type { Constructor, EntityName, LogContext, Logger } from '@mikro-orm/core';
import { silentLog, type Log } from '../log.ts';
import { guardedClient, type QueryGuard } from './guarded-client.ts';
import { discoverWithoutCollator } from './identifier-order.ts';
import type { StatementNaming } from './statement-names.ts';

export type Orm = MikroORM;

/** Where `npm run migration:create` writes a new migration (a domain then lists it: see src/domains/). */
export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

/** A migration class, as a domain lists it under the name the database records it by. */
export type MigrationClass = Constructor<Migration>;

/**
 * What the domains keep in the database, as the composition root collects it from them (the
 * persistence layer knows no domain list): every entity, and every migration, by name.
 */
export interface DomainPersistence {
  entities: readonly EntityName[];
  /** Applied in the order of their names (a timestamp), whatever the domain. */
  migrations: readonly { name: string; class: MigrationClass }[];
}

/** Receives a statement's text, its duration and whether it failed (for tests and metrics). */
export type QueryObserver = (sql: string, tookMs: number | undefined, failed: boolean) => void;

export interface DatabaseOptions {
  clientUrl: string;
  persistence: DomainPersistence;
  poolMax?: number;
  /**
   * Receives every SQL statement run on the pool, the stores' and the ORM's own (migrations),
   * with its duration and whether it failed. A failure may be one the caller handles, such as
   * a unique violation.
   */
  onQuery?: QueryObserver;
  /** Where the ORM's own warnings go (e.g. a pooled connection dropped by the server). */
  log?: Log;
  /** How long to wait for a connection, new or from the pool, before failing the query. */
  connectTimeoutMs?: number;
  /** Whether the stores' statements are prepared under names (statement-names.ts); `auto` unless given. */
  namedStatements?: StatementNaming;
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

/** What `pg` calls back with: one result, or one per statement of a simple-protocol batch. */
export type QueryCallback = (error: Error | null, result: { rows: Record<string, unknown>[] }) => void;

/** A pooled connection, as `pg`'s pool lends it. */
export interface PoolClient {
  /**
   * `pg`'s callback form only (see `send` in sql.ts): its promise form keeps a statement's rows
   * past the young generation. `values` omitted: the simple query protocol.
   */
  query(text: string, callback: QueryCallback): void;
  query(text: string, values: readonly unknown[], callback: QueryCallback): void;
  /** Gives the connection back; with an error, the pool closes it instead of lending it again. */
  release(error?: Error | boolean): void;
}

/** What `pg`'s pool tells about itself, and runs. */
export interface Pool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  connect(): Promise<PoolClient>;
}

export interface PoolStats {
  max: number;
  /** Connections open, checked out or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

/** What `openDatabase` adds to an ORM: its pool (created when the ORM connects), guard and observer. */
interface Opened {
  pool: () => Pool | undefined;
  /** The pool the stores' statements run on, once `poolOf` has found it (what `poolStats` reports). */
  used?: Pool;
  guards: { current?: QueryGuard };
  onQuery: QueryObserver | undefined;
  namedStatements: StatementNaming;
  log: Log;
}
const opened = new WeakMap<Orm, Opened>();

function openedBy(orm: Orm, caller: string): Opened {
  const found = opened.get(orm);
  if (!found) throw new Error(`${caller}: this ORM was not opened by openDatabase`);
  return found;
}

/**
 * From now on, every statement of `orm`'s pool gets `guard.deadlineMs` to answer, and `guard`
 * hears of every answer and every failure to get one.
 */
export function guardQueries(orm: Orm, guard: QueryGuard): void {
  openedBy(orm, 'guardQueries').guards.current = guard;
}

/**
 * The pool `orm` connects through, connecting first if it has not yet (MikroORM opens its pool
 * at the first statement it runs), and where its statements are reported.
 */
export async function poolOf(orm: Orm): Promise<{ pool: Pool; onQuery: QueryObserver | undefined; namedStatements: StatementNaming; log: Log }> {
  const state = openedBy(orm, 'poolOf');
  const created = state.pool() ?? ((await orm.em.getConnection().getNativeClient()) as unknown as Pool);
  state.used = created;
  return { pool: created, onQuery: state.onQuery, namedStatements: state.namedStatements, log: state.log };
}

export function ormConfig(options: DatabaseOptions) {
  return defineConfig({
    clientUrl: options.clientUrl,
    entities: [...options.persistence.entities],
    extensions: [Migrator],
    migrations: {
      // The domains' own lists, not a folder scan: each domain says which migrations are its own
      // (they are imported like any module, from src/ or from the build in dist/).
      migrationsList: [...options.persistence.migrations],
      path: migrationsDir,
      pathTs: migrationsDir,
      emit: 'ts',
      // The schema check compares entities with a database migrated from scratch,
      // so no snapshot file is kept.
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      silent: true,
    },
    // Functions are the migrations' (as the triggers' are): idempotency.claim
    // (Migration20261202120000) is not described by an entity, and must not be dropped by the
    // schema check's comparison.
    schemaGenerator: { ignoreRoutines: true },
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
  let pool: Pool | undefined;
  const guards: { current?: QueryGuard } = {};
  config.driverOptions = { ...config.driverOptions, Client: guardedClient(guards), onPoolCreated: (created: Pool) => void (pool = created) };
  // Its entities sorted without creating a collator, which costs about 2 MB (identifier-order.ts).
  discoverWithoutCollator();
  const orm = await MikroORM.init(config);
  opened.set(orm, { pool: () => pool, guards, onQuery: options.onQuery, namedStatements: options.namedStatements ?? 'auto', log: options.log ?? silentLog });
  return orm;
}

/** How busy the connection pool is; undefined before the ORM has created it. */
export function poolStats(orm: Orm): PoolStats | undefined {
  const state = opened.get(orm);
  const pool = state?.used ?? state?.pool();
  if (!pool) return undefined;
  return { max: pool.options.max, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
}
