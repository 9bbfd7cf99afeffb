// The pool's connection class: a client-side deadline on every statement, and what each answer
// (or its lack) tells about the database.
import pg from 'pg';
import { QueryDeadlineError, isConnectionFailure } from './connection-failures.ts';

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
export function guardedClient(guards: { current?: QueryGuard }) {
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
        // itself. Failing it would leak the connection: MikroORM (through Kysely) hands a transaction's connection
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

