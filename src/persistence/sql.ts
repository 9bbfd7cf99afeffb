// The one way the stores talk to PostgreSQL: plain SQL with PostgreSQL's own `$1, $2…`
// placeholders, run on the pool (`Database`) or inside a transaction that the caller holds and
// passes down explicitly (`UnitOfWork`). A write that must commit together with something else
// (an idempotency record, a queued job) receives the unit of work it joins as an argument; it
// never finds the transaction in ambient state.
import pg from 'pg';
import { isConnectionFailure } from './connection-failures.ts';
import { isStalePlan, namingFor, statementName, stopNaming } from './statement-names.ts';
import { Notices, notifyOnCommit } from './notices.ts';
import { poolOf, type Orm, type PoolClient, type QueryObserver } from './orm.ts';

/**
 * Under a stream of writes, the notifications sent after their commits go at most once every
 * this many ms (`Notices`' spacing): a live stream's wake-up or a new job's comes up to this much
 * later, and each statement carries the writes of that time, their ids joined.
 */
const NOTICES_SPACING_MS = 10;

/** Whether an error is the connection's failure rather than a statement's (for a job queue's batch, which then fails whole). */

export { isConnectionFailure };
/** Notifications sent after a commit, gathered (for the stores, and the job queue's wake-ups). */
export { Notices, notifyOnCommit };

/** One row of a result, by column name. */
export type Row = Record<string, unknown>;

/** Anything that runs a statement: the pool, or an open transaction. */
export interface Queryable {
  /** Runs one statement (`$n` placeholders) and returns its rows (use RETURNING for a write). */
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** One statement and its parameters (`$n` placeholders). */
export interface Statement {
  sql: string;
  params?: readonly unknown[];
  /**
   * The text is the same at every execution and says its parameters' types itself (`$1::text`):
   * held for the COMMIT (`atCommit`) on a connection that goes straight to PostgreSQL, it is
   * prepared there once (SQL `PREPARE`) and then run by name (`EXECUTE`) with its parameters
   * written in, not sent whole with them every time (see `commitTexts`).
   */
  reused?: boolean;
}

/** An open transaction. Statements run through it commit or roll back together. */
export interface UnitOfWork extends Queryable {
  readonly transaction: true;
  /**
   * Runs `callback` once the transaction has committed (never if it rolls back), before the
   * work's caller gets its result: for what must not happen before the writes are visible, such
   * as evicting an in-process cache (a read between an eviction and the commit would put the old
   * state back). Absent where the commit is not ours to see (a job's transaction, which pg-boss
   * commits): callers then do it at once, as the notification of the commit corrects it.
   */
  afterCommit?(callback: () => void | Promise<void>): void;
  /**
   * Several statements in one round trip (the simple query protocol, their parameters written in:
   * see `inlined`), in order, each seeing what the ones before it did and, at READ COMMITTED,
   * what other transactions committed meanwhile (a lock one takes is held when the next takes its
   * snapshot). Each statement's rows. Use `together`, which falls back to one statement at a time.
   */
  together?(statements: readonly Statement[]): Promise<Row[][]>;
  /**
   * Sends now what waits to go with the transaction's first statement (its BEGIN and the
   * statement ahead: an idempotency key's claim), if it has not gone, and throws that
   * statement's failure: for work about to act outside this database (a call to a domain served
   * apart), which must not act before the claim is known.
   */
  settle?(): Promise<void>;
}

/**
 * `statements` in `uow`'s transaction, in order: in one round trip when the unit of work can send
 * them so and their parameters can be written in as literals, one at a time otherwise. Each
 * statement's rows. A failure is thrown as any statement's is, and leaves the transaction aborted.
 */
export async function together(uow: UnitOfWork, statements: readonly Statement[]): Promise<Row[][]> {
  if (uow.together && statements.every((statement) => (statement.params ?? []).every(isPlain))) return uow.together(statements);
  const results: Row[][] = [];
  for (const statement of statements) results.push(await uow.query(statement.sql, statement.params ?? []));
  return results;
}


export interface TransactionOptions {
  /**
   * The transaction's first statement, sent with its BEGIN in one round trip; its rows are the
   * work's second argument. A failure of it rolls back and is thrown before the work runs.
   */
  opening?: Statement;
  /**
   * A statement that runs right after the BEGIN, sent with it in front of the work's first
   * statement (one round trip for the three), or with the COMMIT when the work sends none: the
   * transaction begins only when it has something to send. Its failure fails the transaction:
   * `transaction` rolls back and throws it, whatever the work did with it (a statement the work
   * sends after it is refused with that error). Exclusive with `opening`.
   */
  ahead?: Statement;
  /**
   * What to read when the transaction fails with an error `when` accepts: `statement` is sent
   * with the ROLLBACK, in the same round trip, and runs after it, in no transaction; its rows are
   * handed to `take` before the error is thrown. (When it cannot be sent so, or fails, `take` is
   * not called: the caller reads it on its own.)
   */
  recovery?: Recovery;
}

export interface Recovery {
  when: (error: unknown) => boolean;
  statement: Statement;
  take: (rows: Row[]) => void;
}

/** The pool: each statement on a connection of its own, or several in one transaction. */
export interface Database extends Queryable {
  /** Runs `work` in one transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (uow: UnitOfWork, opened: Row[]) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Several statements in one message and one round trip (the simple query protocol, their
   * parameters written in as literals: see `inlined`), which PostgreSQL runs as one transaction:
   * all commit, or none when one fails (its error is thrown). Each statement sees what the ones
   * before it did and, at READ COMMITTED, what other transactions committed meanwhile (a lock
   * taken by one is held when the next takes its snapshot). Each statement's rows, in order.
   */
  atomically(statements: Statement[]): Promise<Row[][]>;
  /**
   * This instance's notifications sent after their writes' commits, gathered (notices.ts): use
   * `notifyOnCommit`, which sends them inside a transaction whose commit is not ours to see.
   */
  readonly notices: Notices;
}

/**
 * A statement's text with its parameters written in as SQL literals, for the simple query
 * protocol, the one that carries several statements in one message (a BEGIN with the first
 * statement of its transaction, the last one with its COMMIT). Only plain values are accepted:
 * strings (quoted as `pg`'s escapeLiteral quotes them: `quoteLiteral`), finite numbers, booleans, Dates and null.
 */
export function inlined(statement: Statement): string {
  const params = statement.params ?? [];
  const { parts, slots } = templateOf(statement.sql);
  let text = parts[0]!;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if (slot.index < 0 || slot.index >= params.length) throw new Error(`statement has no parameter ${slot.name}`);
    text += literal(params[slot.index]) + parts[i + 1]!;
  }
  return text;
}

/** A statement's text cut at its parameters (`$1`, `$2`, …): the text around them, and which each is. */
interface Template {
  parts: string[];
  slots: { name: string; index: number }[];
}

/**
 * The templates of the statements inlined so far. Their texts are the code's own (a few hundred),
 * and pg-boss's, which name a queue: a bound keeps texts made from data from filling memory.
 */
const templates = new Map<string, Template>();
const MAX_TEMPLATES = 2000;

/**
 * `sql` cut once at its parameters, not at every inlining: a regular expression's replace with a
 * callback ran V8's slow path (a match object a parameter) on every statement, pg-boss's job
 * insert of 3 KB included.
 */
function templateOf(sql: string): Template {
  const known = templates.get(sql);
  if (known) return known;
  const template: Template = { parts: [], slots: [] };
  let from = 0;
  for (const match of sql.matchAll(/\$(\d+)/g)) {
    template.parts.push(sql.slice(from, match.index));
    template.slots.push({ name: match[0], index: Number(match[1]) - 1 });
    from = match.index + match[0].length;
  }
  template.parts.push(sql.slice(from));
  if (templates.size < MAX_TEMPLATES) templates.set(sql, template);
  return template;
}

/**
 * A parameter as a quoted literal of unknown type, which PostgreSQL resolves from its context as
 * it does a bound parameter (`pg` binds every one as text of unknown type): `'201'` is as good an
 * integer as `$5` was.
 */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return quoteLiteral(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot inline the number ${value}`);
    return `'${String(value)}'`;
  }
  if (typeof value === 'boolean') return value ? "'true'" : "'false'";
  if (value instanceof Date) return quoteLiteral(value.toISOString());
  throw new Error(`cannot inline a parameter of type ${typeof value}`);
}

/**
 * `text` as a string literal, exactly as `pg`'s escapeLiteral writes it: quotes and backslashes
 * doubled, and ` E'…'` when there is a backslash. `pg`'s adds one character at a time to its
 * result, which makes a string object a character: a keyed send's inlined statements made about
 * 60 KB of them a request, most of its young generation's garbage (bench/README.md, "A literal
 * written in one piece"). This one copies the text once, or twice when it holds a quote.
 */
export function quoteLiteral(text: string): string {
  const quoted = text.includes("'") ? text.replaceAll("'", "''") : text;
  return text.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** Whether `value` can be written as a literal (see `literal`). */
function isPlain(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    (value instanceof Date && Number.isFinite(value.getTime()))
  );
}

/**
 * A unit of work's statements go to its one connection. `open` is false once it has committed
 * or rolled back: a statement sent then would run outside any transaction, so it is refused.
 */
class Transaction implements UnitOfWork {
  readonly transaction = true as const;
  readonly #client: PoolClient;
  readonly #observe: QueryObserver | undefined;
  open = true;
  /** Statements held until the COMMIT and sent with it, in this order (see `atCommit`). */
  readonly trailing: Statement[] = [];
  closing: Statement | undefined;
  /** The BEGIN and the statement to send with the first statement (see `ahead`), until it is sent. */
  ahead: string | undefined;
  /** Whether the BEGIN has been sent. */
  begun = true;
  /** The failure of the statement sent ahead: the transaction's, whatever the work did with it. */
  failure: unknown;
  /** What runs once the transaction has committed. */
  readonly committed: (() => void | Promise<void>)[] = [];

  /** Its statements are prepared under names (statement-names.ts). */
  readonly #named: boolean;
  /** The connection, when it goes straight to PostgreSQL: `reused` statements held for the COMMIT are prepared on it. */
  readonly preparesOn: PoolClient | undefined;

  constructor(client: PoolClient, observe: QueryObserver | undefined, named: boolean, ahead?: Statement, direct = false) {
    this.#client = client;
    this.#observe = observe;
    this.#named = named;
    this.preparesOn = direct ? client : undefined;
    if (ahead) {
      this.ahead = `begin;\n${inlined(ahead)}`;
      this.begun = false;
    }
  }

  afterCommit(callback: () => void | Promise<void>): void {
    if (!this.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
    this.committed.push(callback);
  }

  async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    if (!this.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
    if (this.failure !== undefined) throw this.failure;
    if (this.ahead !== undefined) {
      const ahead = this.ahead;
      this.ahead = undefined;
      this.begun = true;
      // Sent with the BEGIN and the statement ahead when its parameters can be written in as
      // literals; otherwise they go first, on their own.
      let text: string | undefined;
      try {
        text = inlined({ sql, params });
      } catch {
        text = undefined;
      }
      try {
        if (text !== undefined) return (await this.batch(`${ahead};\n${text}`)).at(-1) as R[];
        await this.batch(ahead);
      } catch (error) {
        this.failure = error;
        throw error;
      }
    }
    const name = this.#named ? statementName(sql) : undefined;
    return (await send(this.#client, sql, params, name, this.#observe)).rows as R[];
  }

  async together(statements: readonly Statement[]): Promise<Row[][]> {
    if (!this.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
    if (this.failure !== undefined) throw this.failure;
    const text = statements.map(inlined).join(';\n');
    if (this.ahead === undefined) return this.batch(text);
    // With the BEGIN and the statement ahead (two results), as a first statement goes.
    const ahead = this.ahead;
    this.ahead = undefined;
    this.begun = true;
    try {
      return (await this.batch(`${ahead};\n${text}`)).slice(2);
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  async settle(): Promise<void> {
    if (!this.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
    if (this.failure !== undefined) throw this.failure;
    if (this.ahead === undefined) return;
    const ahead = this.ahead;
    this.ahead = undefined;
    this.begun = true;
    try {
      await this.batch(ahead);
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  /** BEGIN, COMMIT and ROLLBACK, reported like any statement. */
  async control(sql: 'begin' | 'commit' | 'rollback'): Promise<void> {
    await send(this.#client, sql, undefined, undefined, this.#observe);
  }

  /**
   * Several statements in one message (the simple query protocol), reported as one statement:
   * each result's rows, in order. PostgreSQL stops at the first that fails.
   */
  async batch(sql: string): Promise<Row[][]> {
    const results = (await send(this.#client, sql, undefined, undefined, this.#observe)) as unknown as { rows: Row[] } | { rows: Row[] }[];
    return Array.isArray(results) ? results.map((r) => r.rows) : [results.rows];
  }
}

/**
 * One statement on `client`, through `pg`'s callback form (`params` undefined: the simple query
 * protocol, which takes several statements). `pg`'s promise form (`client.query(sql, params)`
 * without a callback) kept a statement's rows past the young generation's collections, about
 * 14 KB of an account's page of 21 posts, into the old generation: under account-posts' load, a
 * full collection every 0.3–0.4 s (bench/README.md, "A statement's rows, kept young";
 * test/sql.test.ts measures it). A refusal gets a stack trace through the caller's awaits here,
 * as `pg`'s promise form gives it.
 *
 * With `observe`, the statement is reported to it (its time, whether it failed) here, not by
 * `observed` around a callback: a statement waiting for its answer holds an async frame, a promise
 * and a reaction for each level above it, which every young-generation collection during the wait
 * copies, and that wrapper adds two (bench/README.md).
 */
async function send(
  client: Pick<PoolClient, 'query'>,
  sql: string,
  params?: readonly unknown[],
  name?: string,
  observe?: QueryObserver,
): Promise<{ rows: Row[] }> {
  const started = observe === undefined ? 0 : performance.now();
  let result: { rows: Row[] };
  try {
    result = await new Promise<{ rows: Row[] }>((resolve, reject) => {
      const done = (error: Error | null, answer: { rows: Row[] }) => (error ? reject(error) : resolve(answer));
      if (params === undefined) client.query(sql, done);
      else if (name === undefined) client.query(sql, params, done);
      else (client.query as (config: unknown, callback: unknown) => void)({ name, text: sql, values: params }, done);
    });
  } catch (error) {
    observe?.(sql, performance.now() - started, true);
    if (error instanceof Error) Error.captureStackTrace(error);
    // A named statement whose result a migration changed: sent unnamed from now on.
    if (name !== undefined && isStalePlan(error)) stopNaming(sql);
    throw error;
  }
  observe?.(sql, performance.now() - started, false);
  return result;
}

/** `pg`'s client as a class to extend, with the one method overridden below. */
const PgClient = pg.Client as unknown as new (config?: unknown) => { query(config: unknown, values?: unknown, callback?: unknown): unknown };

/** What a transaction's control statement answers, for the ones answered without a round trip. */
function answered(command: string): { command: string; rowCount: null; rows: Row[]; fields: never[] } {
  return { command, rowCount: null, rows: [], fields: [] };
}

/**
 * A statement's text with its parameters written in, when that is plainly safe: the text has no
 * quotes, comments or dollar quoting (where a `$n` would not be a parameter), and every
 * parameter can be written as a literal (`inlined`). Undefined otherwise.
 */
export function plainlyInlined(sql: string, params: readonly unknown[]): string | undefined {
  if (/['"`]|--|\/\*|\$(?!\d)/.test(sql)) return undefined;
  try {
    return inlined({ sql, params });
  } catch {
    return undefined;
  }
}

/**
 * `pg`'s client for a pool that code other than ours drives (pg-boss's, src/jobs/queue.ts):
 *
 * - Its promise form (`client.query(sql, params)` without a callback, which pg-boss uses for every
 *   statement of a job's transaction) runs through the callback form, as `send` does, so that
 *   those statements' rows stay young too. Cursors and calls with a callback are `pg`'s own.
 * - A `BEGIN` is held and sent with the transaction's first statement, in one round trip, as
 *   Agora's own units of work do: that statement's parameters are written in as literals when
 *   that is plainly safe (`plainlyInlined`; otherwise the BEGIN goes on its own first). A
 *   transaction that ends before it sent anything (a COMMIT or ROLLBACK right after the BEGIN)
 *   sends nothing at all, and a connection given back to its pool drops a BEGIN it still holds.
 *   pg-boss's transactional worker opens each job's transaction so. Its first statement, the
 *   transaction's time bound (`select set_config($1, …, true)`, answered with no rows, which
 *   pg-boss does not read), is held with the BEGIN when it can be inlined, and both go with the
 *   handler's first statement: a failure of the bound then fails that statement, and the batch.
 * - In a transaction it began, a `SAVEPOINT` or `RELEASE SAVEPOINT` (no parameters) is held the
 *   same way and goes with the next statement: a batch of jobs runs each job in a savepoint of the
 *   batch's transaction (src/jobs/queue.ts) at no round trip of its own. A COMMIT or ROLLBACK
 *   drops what is held: a savepoint changes nothing either keeps.
 */
/** A setting made for the current transaction only (`set_config(…, true)`), whose answer nobody reads. */
const LOCAL_SETTING = /^\s*select set_config\(\$1, [^;]*, true\)\s*$/is;

export class CallbackFormClient extends PgClient {
  /**
   * Statements not sent yet, which go with the next one: a `BEGIN` (first, when held) and the
   * transaction's time bound, then `SAVEPOINT`s and `RELEASE SAVEPOINT`s, whose answers say
   * nothing but that they ran.
   */
  #held: string[] = [];
  /** A transaction this client began is open: only then are savepoints held. */
  #open = false;
  #release: ((error?: Error | boolean) => void) | undefined;

  /** pg-pool gives each checkout its `release` by assignment: statements still held then were never sent, and are dropped. */
  get release(): ((error?: Error | boolean) => void) | undefined {
    return this.#release;
  }
  set release(release: ((error?: Error | boolean) => void) | undefined) {
    this.#release =
      release &&
      ((error) => {
        this.#held = [];
        this.#open = false;
        return release(error);
      });
  }

  override query(config: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof values === 'function' || typeof callback === 'function' || typeof (config as { submit?: unknown } | null)?.submit === 'function') {
      if (this.#held.length > 0) {
        // Not a form pg-boss uses inside a transaction: what is held goes first, on its own.
        super.query(this.#take().join(';\n'), () => {});
      }
      return super.query(config, values, callback);
    }
    const sql = config as string;
    const params = values as readonly unknown[] | undefined;
    if (this.#held.length === 1 && this.#held[0] === 'begin' && typeof sql === 'string' && LOCAL_SETTING.test(sql)) {
      // The transaction's own setting (pg-boss's time bound), right after its BEGIN: held with it.
      const text = plainlyInlined(sql, params ?? []);
      if (text !== undefined) {
        this.#held.push(text);
        return Promise.resolve(answered('SELECT'));
      }
    }
    if ((params === undefined || params.length === 0) && typeof sql === 'string') {
      const control = sql.trim().toLowerCase();
      if (control === 'begin' && !this.#open) {
        this.#open = true;
        this.#held.push('begin');
        return Promise.resolve(answered('BEGIN'));
      }
      if (this.#open && /^(release )?savepoint [a-z_][a-z0-9_]*$/.test(control)) {
        this.#held.push(control);
        return Promise.resolve(answered(control.startsWith('release') ? 'RELEASE' : 'SAVEPOINT'));
      }
      if (control === 'commit' || control === 'rollback') this.#open = false;
      if ((control === 'commit' || control === 'rollback') && this.#held.length > 0) {
        const held = this.#take();
        // A transaction whose BEGIN was never sent has nothing to end. Otherwise what is held
        // (savepoints, releases) changes nothing a COMMIT or ROLLBACK would keep: dropped.
        if (held[0] === 'begin') return Promise.resolve(answered(control.toUpperCase()));
      }
    }
    if (this.#held.length > 0) return this.#after(this.#take(), sql, params);
    // Back in here with `send`'s callback, which goes to pg's own.
    return send(this as unknown as Pick<PoolClient, 'query'>, sql, params);
  }

  #take(): string[] {
    const held = this.#held;
    this.#held = [];
    return held;
  }

  /** `sql` after the statements `held`: with them, in one round trip, when it can be. */
  async #after(held: string[], sql: string, params: readonly unknown[] | undefined): Promise<unknown> {
    const client = this as unknown as Pick<PoolClient, 'query'>;
    const text = params === undefined ? sql : plainlyInlined(sql, params);
    if (text === undefined) {
      await send(client, held.join(';\n'));
      return send(client, sql, params);
    }
    const results = (await send(client, `${held.join(';\n')};\n${text}`)) as unknown as unknown[];
    // The held statements' results first, then the statement's (one result, or one per statement
    // when the simple protocol's text held several).
    const own = results.slice(held.length);
    return own.length === 1 ? own[0] : own;
  }
}

/**
 * `run`, reported to `observe` with its time and whether it failed. Only `atomically` (the
 * timelines' passes, off the requests' path) still times itself so; a request's statements are
 * timed by `query` and `send` without the two async frames this wrapper holds while they wait.
 */
async function observed<T>(observe: QueryObserver | undefined, sql: string, run: () => Promise<T>): Promise<T> {
  if (!observe) return run();
  const started = performance.now();
  try {
    const result = await run();
    observe(sql, performance.now() - started, false);
    return result;
  } catch (error) {
    observe(sql, performance.now() - started, true);
    throw error;
  }
}

/**
 * The Database over the pool MikroORM opened for `orm` (see orm.ts): its connections carry the
 * statement deadline (guarded-client.ts), and every statement, BEGIN and COMMIT included, is
 * reported to the `onQuery` the ORM was opened with.
 *
 * A statement outside a transaction goes straight to the pool as a parameterized statement: the
 * bench measured MikroORM's own path, which inlines the parameters into the SQL text and builds
 * a query context first, at several times the CPU of the statement itself (bench/README.md).
 */
export interface CreateDatabaseOptions {
  /**
   * A connection of its own to send the notifications after commits on (`notices`): the
   * invalidation listener's, which no request waits for; it answers undefined when it cannot
   * (down), and the statement then goes to the pool, as it does when the connection fails.
   * Without it, the pool, where under load the statement waits behind the requests' for a
   * connection.
   */
  noticesVia?: (sql: string, params: unknown[]) => Promise<unknown>;
}

export function createDatabase(orm: Orm, options: CreateDatabaseOptions = {}): Database {
  let resolved: (Awaited<ReturnType<typeof poolOf>> & { named: boolean; direct: boolean }) | undefined;
  let opening: Promise<NonNullable<typeof resolved>> | undefined;
  let gate: Gate | undefined;
  // The pool, and whether its statements are named: asked of the database once, by the first
  // statement (again by the next if it could not be asked).
  const opened = () =>
    (opening ??= (async () => {
      const found = await poolOf(orm);
      const naming = await namingFor(found.namedStatements, () => found.pool.connect());
      found.log.info({ namedStatements: naming.named, why: naming.reason }, naming.named ? 'statements are prepared under names' : 'statements are sent unnamed');
      gate ??= new Gate(transactionsAdmitted(found.pool.options.max));
      resolved = { ...found, named: naming.named, direct: naming.direct === true };
      return resolved;
    })().catch((error: unknown) => {
      opening = undefined;
      throw error;
    }));

  const database: Database = {
    notices: new Notices(
      async (sql, params) => {
        // Its own connection first; the pool when that is down, or fails under the statement (a
        // wake-up sent twice only wakes its listeners twice).
        const sent = await options.noticesVia?.(sql, params).catch(() => undefined);
        return sent ?? database.query(sql, params);
      },
      // A lost notification is a wake-up that comes later: each listener looks again on its own.
      (error, lost) => resolved?.log.warn({ err: error, lost }, 'notifications after a commit could not be sent; their listeners will look again on their own'),
      { spacingMs: NOTICES_SPACING_MS },
    ),

    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      const { pool, onQuery, named } = resolved ?? (await opened());
      const name = named ? statementName(sql) : undefined;
      // Reported here, not by `send`: its time includes the wait for a connection, and a stale
      // plan's second attempt is one statement. Written out, not `observed` around a callback:
      // a statement waiting for its answer then holds one async frame here (and `send`'s), not
      // three, each with its promise and reaction, which every young-generation collection
      // during the wait copies (bench/README.md).
      const started = onQuery ? performance.now() : 0;
      let result: { rows: Row[] };
      try {
        // Not pool.query: it releases the connection with any error, which closes it, so that
        // every refused statement (a taken handle, a unique violation) would cost a new
        // connection. Only a connection that failed is given back to be closed.
        const client = await pool.connect();
        try {
          try {
            result = await send(client, sql, params, name);
          } catch (error) {
            // Refused as a whole, before it ran (its result changed since it was prepared): sent
            // again unnamed, as every later one will be.
            if (name === undefined || !isStalePlan(error)) throw error;
            result = await send(client, sql, params);
          }
        } catch (error) {
          client.release(isConnectionFailure(error) ? (error as Error) : undefined);
          throw error;
        }
        client.release();
      } catch (error) {
        onQuery?.(sql, performance.now() - started, true);
        throw error;
      }
      onQuery?.(sql, performance.now() - started, false);
      return result.rows as R[];
    },

    async atomically(statements: Statement[]): Promise<Row[][]> {
      const { pool, onQuery } = resolved ?? (await opened());
      const sql = statements.map(inlined).join(';\n');
      return observed(onQuery, sql, async () => {
        const client = await pool.connect();
        try {
          const results = (await send(client, sql)) as unknown as { rows: Row[] } | { rows: Row[] }[];
          client.release();
          return Array.isArray(results) ? results.map((r) => r.rows) : [results.rows];
        } catch (error) {
          client.release(isConnectionFailure(error) ? (error as Error) : undefined);
          throw error;
        }
      });
    },

    async transaction<T>(work: (uow: UnitOfWork, opened: Row[]) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
      const { pool, onQuery, named, direct } = resolved ?? (await opened());
      await gate!.enter();
      try {
        return await run(pool, onQuery, { named, direct }, work, options);
      } finally {
        gate!.leave();
      }
    },
  };
  return database;
}

/**
 * How many transactions may hold a connection at once: all but a quarter of the pool (at least
 * one connection), which stays for single statements. A unit of work's own writes run on its
 * connection, but the reads it makes of other domains (an author's summary, a channel's
 * access) are single statements on the pool: were every connection held by a transaction
 * waiting for one of those, none would ever come (until the connect timeout failed them all).
 */
function transactionsAdmitted(poolMax: number): number {
  return Math.max(1, poolMax - Math.max(1, Math.floor(poolMax / 4)));
}

/** A counting semaphore: transactions beyond the limit wait, in order, without a connection. */
class Gate {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  enter(): Promise<void> | void {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * One transaction on a connection of its own: BEGIN, `work`, COMMIT (ROLLBACK when it throws).
 * An opening statement goes with the BEGIN, a closing one with the COMMIT, and a statement sent
 * ahead with the BEGIN in front of the first statement: a transaction of three statements
 * (claim, write, record) is two round trips, not five.
 */
async function run<T>(
  pool: Awaited<ReturnType<typeof poolOf>>['pool'],
  onQuery: QueryObserver | undefined,
  { named, direct }: { named: boolean; direct: boolean },
  work: (uow: UnitOfWork, opened: Row[]) => Promise<T>,
  { opening, ahead, recovery }: TransactionOptions,
): Promise<T> {
  if (opening && ahead) throw new Error('a transaction has an opening statement or one sent ahead, not both');
  const client = await pool.connect();
  let uow: Transaction;
  try {
    uow = new Transaction(client, onQuery, named, ahead, direct);
  } catch (error) {
    client.release();
    throw error;
  }
  let opened: Row[] = [];
  try {
    if (opening) opened = (await uow.batch(`begin;\n${inlined(opening)}`))[1] ?? [];
    else if (!ahead) await uow.control('begin');
  } catch (error) {
    uow.open = false;
    // A BEGIN refused leaves no transaction; an opening statement refused leaves an aborted one.
    if (opening && !isConnectionFailure(error)) await rollBack(uow, client, error);
    else client.release(error as Error);
    throw error;
  }
  let result: T;
  try {
    result = await work(uow, opened);
  } catch (error) {
    uow.open = false;
    const failure = uow.failure ?? error;
    if (uow.begun) await rollBack(uow, client, failure, recovery);
    else client.release();
    throw failure;
  }
  uow.open = false;
  if (uow.failure !== undefined) {
    await rollBack(uow, client, uow.failure, recovery);
    throw uow.failure;
  }
  // A work that sent nothing: the BEGIN and the statement ahead go with the COMMIT.
  const head = uow.ahead === undefined ? '' : `${uow.ahead};\n`;
  uow.ahead = undefined;
  uow.begun = true;
  const tail = uow.closing ? [...uow.trailing, uow.closing] : uow.trailing;
  let preparing: string[] = [];
  try {
    if (tail.length > 0) {
      const sent = commitTexts(tail, uow.preparesOn);
      preparing = sent.preparing;
      await uow.batch(`${head}${sent.texts.join(';\n')};\ncommit`);
    } else if (head) await uow.batch(`${head}commit`);
    else await uow.control('commit');
  } catch (error) {
    // A COMMIT refused by the server ends the transaction and leaves the connection usable;
    // one that got no answer leaves it in an unknown state, so the pool must drop it. A closing
    // statement refused leaves the transaction aborted (PostgreSQL skips the COMMIT after it):
    // it is rolled back (after a refused COMMIT, the ROLLBACK finds nothing to do).
    if ((tail.length > 0 || head) && !isConnectionFailure(error)) await rollBack(uow, client, error, recovery);
    else client.release(isConnectionFailure(error) ? (error as Error) : undefined);
    prepared(client, preparing, false);
    throw error;
  }
  prepared(client, preparing, true);
  client.release();
  // Committed: the callbacks' failures are the caller's to hear, but undo nothing.
  for (const callback of uow.committed) await callback();
  return result;
}

/**
 * `reused` statements prepared by SQL `PREPARE` on each connection: true once a batch that
 * prepared one committed; false once such a batch failed, which may or may not have left it
 * prepared (a PREPARE outlives the transaction it ran in): there it is written in whole again.
 */
const preparedOn = new WeakMap<PoolClient, Map<string, boolean>>();

/** Each `reused` text's name and how many parameters it takes. A text built from data stops being prepared at the bound. */
const reusedTexts = new Map<string, { name: string; arity: number }>();
const MAX_REUSED = 50;

function reusedText(sql: string): { name: string; arity: number } | undefined {
  const known = reusedTexts.get(sql);
  if (known || reusedTexts.size >= MAX_REUSED) return known;
  let arity = 0;
  for (const slot of templateOf(sql).slots) arity = Math.max(arity, slot.index + 1);
  const text = { name: `agora_reused_${reusedTexts.size.toString(36)}`, arity };
  reusedTexts.set(sql, text);
  return text;
}

/**
 * The texts of the statements sent with a COMMIT, and the names prepared by them. A `reused`
 * statement on a direct connection (`client`) is run as `EXECUTE name(literals)`, preceded by its
 * `PREPARE` the first time on that connection: pg-boss's job insert is 3 KB of text, which was
 * written in with its parameter, encoded and sent, and parsed and planned by PostgreSQL, at every
 * enqueued job (bench/README.md, "A job's insert prepared once per connection"). Elsewhere,
 * or after a batch that prepared it failed on that connection, it is written in whole (`inlined`).
 */
export function commitTexts(statements: readonly Statement[], client: PoolClient | undefined): { texts: string[]; preparing: string[] } {
  const texts: string[] = [];
  const preparing: string[] = [];
  for (const statement of statements) {
    const reused = statement.reused && client ? reusedText(statement.sql) : undefined;
    const state = reused && preparedOn.get(client!)?.get(reused.name);
    if (!reused || state === false) {
      texts.push(inlined(statement));
      continue;
    }
    const params = statement.params ?? [];
    if (params.length < reused.arity) throw new Error(`statement has no parameter $${params.length + 1}`);
    let execute = `execute ${reused.name}`;
    if (reused.arity > 0) {
      execute += `(${literal(params[0])}`;
      for (let i = 1; i < reused.arity; i++) execute += `, ${literal(params[i])}`;
      execute += ')';
    }
    if (state !== true && !preparing.includes(reused.name)) {
      preparing.push(reused.name);
      texts.push(`prepare ${reused.name} as ${statement.sql.replace(/[\s;]+$/, '')}`);
    }
    texts.push(execute);
  }
  return { texts, preparing };
}

/** Records what a batch that prepared `names` on `client` left: prepared (it committed) or unknown (it failed). */
function prepared(client: PoolClient, names: readonly string[], committed: boolean): void {
  if (names.length === 0) return;
  let known = preparedOn.get(client);
  if (!known) preparedOn.set(client, (known = new Map()));
  for (const name of names) known.set(name, committed);
}

/**
 * Rolls back the transaction that `error` ended, and gives the connection back (to be closed, if
 * it is gone). A `recovery` that accepts the error has its statement sent with the ROLLBACK.
 */
async function rollBack(uow: Transaction, client: PoolClient, error: unknown, recovery?: Recovery): Promise<void> {
  let recovered: string | undefined;
  if (recovery && !isConnectionFailure(error) && recovery.when(error)) {
    try {
      recovered = inlined(recovery.statement);
    } catch {
      recovered = undefined;
    }
  }
  try {
    // On a connection that is gone the guarded client answers the ROLLBACK itself
    // (PostgreSQL ends that transaction on its own); the connection is then released with
    // the error, so that the pool closes it instead of lending it again.
    if (recovered === undefined) await uow.control('rollback');
    else recovery!.take((await uow.batch(`rollback;\n${recovered}`))[1] ?? []);
    client.release(isConnectionFailure(error) ? (error as Error) : undefined);
  } catch (rollbackError) {
    client.release(rollbackError as Error);
  }
}

/**
 * Makes `statement` the last of `uow`'s transaction: it is sent with the COMMIT, in the same
 * round trip, once the work has returned. Should it fail, nothing commits and the caller of
 * `transaction` gets its error. At most one per transaction, of a unit of work `transaction` opened.
 */
export function closeWith(uow: UnitOfWork, statement: Statement): void {
  if (!(uow instanceof Transaction)) throw new Error('only a unit of work opened by Database.transaction can be closed with a statement');
  if (!uow.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
  if (uow.closing) throw new Error('this unit of work already has its closing statement');
  uow.closing = statement;
}

/**
 * Holds `statement` until `uow` commits and sends it with the COMMIT (and the closing statement,
 * after it), in the same round trip: for a write whose result nobody reads and that nothing later
 * in the transaction depends on, such as enqueuing a job. Should it fail, nothing commits and the
 * caller of `transaction` gets its error. False, and nothing held, when `uow` is not a unit of
 * work `Database.transaction` opened (a job's, whose commit is pg-boss's) or a parameter cannot
 * be written in as a literal: the caller then sends the statement itself.
 */
export function atCommit(uow: Queryable, statement: Statement): boolean {
  if (!(uow instanceof Transaction) || !(statement.params ?? []).every(isPlain)) return false;
  if (!uow.open) throw new Error('this unit of work has ended: its transaction committed or rolled back');
  if (uow.failure !== undefined) throw uow.failure;
  uow.trailing.push(statement);
  return true;
}

/** Runs `work` in the caller's unit of work when there is one, in a transaction of its own otherwise. */
export function joinOrBegin<T>(db: Database, uow: UnitOfWork | undefined, work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
  return uow ? work(uow) : db.transaction(work);
}

/**
 * Runs `work` so that a statement failing in it does not abort the transaction `db` may be:
 * inside a unit of work, in a savepoint rolled back on failure (the caller may still want to
 * write, or commit); on the pool, as it is (each statement is its own transaction there).
 */
export async function withSavepoint<T>(db: Queryable, work: () => Promise<T>): Promise<T> {
  if ((db as Partial<UnitOfWork>).transaction !== true) return work();
  await db.query('savepoint agora_attempt');
  try {
    const result = await work();
    await db.query('release savepoint agora_attempt');
    return result;
  } catch (error) {
    if (!isConnectionFailure(error)) await db.query('rollback to savepoint agora_attempt');
    throw error;
  }
}

/** The constraint a statement violated, when `error` is that violation of the given kind. */
export function violatedConstraint(error: unknown, kind: 'unique' | 'foreign-key'): string | undefined {
  const code = kind === 'unique' ? '23505' : '23503';
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== code) return undefined;
  return ((error as { constraint?: unknown }).constraint as string | undefined) ?? '';
}

/** A timestamp column: `pg` gives a Date (kept, not copied). */
export function asDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}
