// The one ending of every optimistic-concurrency write: the statement changes the row only if it
// still has the version the caller saw, and when it changes nothing, one more read tells a row
// that moved on (`stale`, with its version) from one that is gone (`notFound`).
import type { Queryable, Row } from './sql.ts';

/** What a conditional write did. */
export type WriteOutcome<T> = { kind: 'done'; row: T } | { kind: 'not-found' } | { kind: 'stale'; currentVersion: number };

export interface ConditionalWrite {
  /** The table, schema-qualified (`posts.post`); its key column is `id`, its version `version`. */
  table: string;
  id: string;
  /** The version the caller saw; undefined writes whatever the version. */
  expectedVersion: number | undefined;
  /**
   * `update <table> set …` or `delete from <table>`, without its WHERE, which the helper adds
   * after the statement's own parameters: `where id = $n+1 and version = $n+2`.
   */
  statement: string;
  /** The statement's own parameters, `$1..$n` in its text. */
  params?: readonly unknown[];
  /** What the written row is read back as (`returning …`); none for a delete. */
  returning?: string;
}

/**
 * Runs `write` on `db` (the pool, or the caller's unit of work). `where id = $1 and version = $2`
 * is evaluated by PostgreSQL, so no concurrent writer slips between a check and the write; with
 * RETURNING, the row is the one this statement produced, not whatever a later writer made of it.
 */
export async function conditionalWrite<T>(db: Queryable, write: ConditionalWrite, toRow: (row: Row) => T): Promise<WriteOutcome<T>>;
export async function conditionalWrite(db: Queryable, write: ConditionalWrite): Promise<WriteOutcome<null>>;
export async function conditionalWrite<T>(db: Queryable, write: ConditionalWrite, toRow?: (row: Row) => T): Promise<WriteOutcome<T | null>> {
  const params = [...(write.params ?? []), write.id];
  let where = `where id = $${params.length}`;
  if (write.expectedVersion !== undefined) {
    params.push(write.expectedVersion);
    where += ` and version = $${params.length}`;
  }
  const [written] = await db.query(`${write.statement} ${where} returning ${write.returning ?? '1 as written'}`, params);
  if (written) return { kind: 'done', row: toRow ? toRow(written) : null };
  const [current] = await db.query<{ version: number }>(`select version from ${write.table} where id = $1`, [write.id]);
  return current ? { kind: 'stale', currentVersion: Number(current.version) } : { kind: 'not-found' };
}
