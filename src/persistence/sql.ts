// The one way the stores talk to PostgreSQL: plain SQL with PostgreSQL's own `$1, $2…`
// placeholders, run on the pool (`Database`) or inside a transaction that the caller holds and
// passes down explicitly (`UnitOfWork`). A write that must commit together with something else
// (an idempotency record, a queued job) receives the unit of work it joins as an argument; it
// never finds the transaction in ambient state.

/** One row of a result, by column name. */
export type Row = Record<string, unknown>;

/** Anything that runs a statement: the pool, or an open transaction. */
export interface Queryable {
  /** Runs one statement (`$n` placeholders) and returns its rows (use RETURNING for a write). */
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** An open transaction. Statements run through it commit or roll back together. */
export interface UnitOfWork extends Queryable {
  readonly transaction: true;
}

/** The pool: each statement on a connection of its own, or several in one transaction. */
export interface Database extends Queryable {
  /** Runs `work` in one transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T>;
}
