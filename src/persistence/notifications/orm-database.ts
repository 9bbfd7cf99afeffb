// ORM ADAPTER (temporary): the `Database` of src/persistence/sql.ts over the MikroORM that the
// other stores still use, so that this domain's store is written against plain SQL already.
// When the stores move to sql.ts's implementation, this file goes and the domain's index.ts
// passes that `Database` instead; nothing else changes.
//
// Statements go through `queryRows`, which joins the transaction running in this async context
// (an idempotent request's, or one begun by `transaction` below) and uses the pool otherwise. It
// takes MikroORM's `?` placeholders, so `$n` is rewritten here; the store passes scalars only
// (lists travel as one JSON text parameter), which both of queryRows' paths accept.
import { inTransaction, queryRows, type Orm } from '../db.ts';
import type { Database, Row, UnitOfWork } from '../sql.ts';

/** `$1…$n` as `?` in order of appearance, with the parameters reordered to match. */
function positional(sql: string, params: readonly unknown[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
    values.push(params[Number(n) - 1]);
    return '?';
  });
  return { text, values };
}

async function run<R extends Row>(orm: Orm, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  const { text, values } = positional(sql, params);
  return (await queryRows(orm, text, values)) as R[];
}

export function ormDatabase(orm: Orm): Database {
  return {
    query: (sql, params) => run(orm, sql, params),
    transaction: (work) =>
      inTransaction(orm, async () => {
        const uow: UnitOfWork = { transaction: true, query: (sql, params) => run(orm, sql, params) };
        return work(uow);
      }),
  };
}
