// Applying the committed migrations, and comparing them with the entities (`npm run schema:check`).
import pg from 'pg';
import { silentLog, type Log } from '../log.ts';
import type { Orm } from './orm.ts';

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

