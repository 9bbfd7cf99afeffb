// The messages store speaks plain SQL through `Database` (../sql.ts); until the pool implements
// that interface itself, this adapter runs it on the ORM's pool. It is the only place to change
// (replace `databaseFromOrm(orm)` with the real `Database`) once that lands.
import { inTransaction, queryRows, type Orm } from '../db.ts';
import type { Database, Queryable, Row, UnitOfWork } from '../sql.ts';

/**
 * `$1, $2…` (PostgreSQL's placeholders) as `?` (what `queryRows` takes), with the parameters in
 * the order of their use: a `$n` used twice becomes two `?` with the same value.
 */
function questionMarks(sql: string, params: readonly unknown[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
    values.push(params[Number(n) - 1]);
    return '?';
  });
  return { text, values };
}

/** `queryRows` joins the transaction running in this async context (see db.ts's `inTransaction`), if any. */
function queryable(orm: Orm): Queryable {
  return {
    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      const { text, values } = questionMarks(sql, params);
      return (await queryRows(orm, text, values)) as R[];
    },
  };
}

export function databaseFromOrm(orm: Orm): Database {
  const pool = queryable(orm);
  const uow: UnitOfWork = { ...queryable(orm), transaction: true };
  return {
    query: pool.query,
    transaction: (work) => inTransaction(orm, () => work(uow)),
  };
}
