// Opens the ORM over every domain's entities and applies the committed migrations.
import { fileURLToPath } from 'node:url';
import { MikroORM, defineConfig, type EntityManager } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { LogContext, Logger } from '@mikro-orm/core';
import { accountsEntities } from './accounts/entities.ts';
import { channelsEntities } from './channels/entities.ts';
import { idempotencyEntities } from './idempotency/entities.ts';
import { postsEntities } from './posts/entities.ts';
import { socialEntities } from './social/entities.ts';

export type Orm = MikroORM;

export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

export interface DatabaseOptions {
  clientUrl: string;
  poolMax?: number;
  /** Receives every SQL statement the ORM runs, with its duration (for tests and metrics). */
  onQuery?: (sql: string, tookMs: number | undefined) => void;
}

/** A MikroORM logger that only reports executed queries. */
class QueryListener implements Logger {
  readonly #onQuery: NonNullable<DatabaseOptions['onQuery']>;
  constructor(onQuery: NonNullable<DatabaseOptions['onQuery']>) {
    this.#onQuery = onQuery;
  }
  log(): void {}
  error(): void {}
  warn(): void {}
  logQuery(context: LogContext): void {
    this.#onQuery(context.query ?? "", context.took);
  }
  setDebugMode(): void {}
  isEnabled(namespace: string): boolean {
    return namespace === 'query';
  }
}

export function ormConfig(options: DatabaseOptions) {
  return defineConfig({
    clientUrl: options.clientUrl,
    entities: [...accountsEntities, ...socialEntities, ...channelsEntities, ...postsEntities, ...idempotencyEntities],
    extensions: [Migrator],
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: '!(*.d).ts',
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
    debug: options.onQuery ? ['query'] : false,
    loggerFactory: options.onQuery ? () => new QueryListener(options.onQuery!) : undefined,
  });
}

export async function openDatabase(options: DatabaseOptions): Promise<Orm> {
  return MikroORM.init(ormConfig(options));
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

/** Applies pending migrations; returns the names of those it ran. */
export async function migrate(orm: Orm): Promise<string[]> {
  const ran = await orm.migrator.up();
  return ran.map((m) => m.name);
}

export async function pendingMigrations(orm: Orm): Promise<string[]> {
  return (await orm.migrator.getPending()).map((m) => m.name);
}

/** True when the entities describe a schema that the migrations do not produce. */
export async function schemaDiffersFromMigrations(orm: Orm): Promise<boolean> {
  return orm.migrator.checkSchema();
}

export async function isDatabaseReachable(orm: Orm): Promise<boolean> {
  try {
    await orm.em.getConnection().execute('select 1');
    return true;
  } catch {
    return false;
  }
}
