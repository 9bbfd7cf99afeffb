// Named prepared statements: PostgreSQL parses and plans a named statement once per connection
// and then reuses it, where an unnamed one (`pg`'s default) is parsed and planned at every
// execution. Planning is most of what some statements cost the database: an account's
// conversations took about 1,000 µs of PostgreSQL's CPU unnamed and 450 µs named, an account's
// page of posts 115 µs and 65 (bench/README.md).
//
// A name lives on one server connection. Behind a pooler in transaction mode (PgBouncer before
// 1.21, or without `max_prepared_statements`) the next statement of the same client connection
// may reach another server connection, which does not know the name: so statements are named
// only where the database itself says that the connection is direct (`namingFor`).
//
// These are the protocol's names (a statement sent with its parameters). A statement sent with a
// transaction's COMMIT, in one simple-protocol message, cannot be named so; one marked `reused`
// (pg-boss's job insert) is prepared by SQL `PREPARE` instead, on connections `namingFor` found
// direct only (`commitTexts` in sql.ts).

/** `DATABASE_NAMED_STATEMENTS`: `auto` names statements only on a connection found to be direct. */
export type StatementNaming = 'auto' | 'on' | 'off';

/** Distinct texts named at most, per process: a text built with varying parts stops at this. */
const MAX_NAMED = 500;

/**
 * Texts that select all columns (`t.*`, `select *`, `returning *`): a migration that adds a
 * column changes their result, and PostgreSQL then refuses the prepared statement at every
 * execution ("cached plan must not change result type"). They are never named.
 */
const ALL_COLUMNS = /\w\.\*|\bselect\s+\*|\breturning\s+\*/i;

/**
 * Texts with an array parameter (`$1::uuid[]`): a generic plan, which PostgreSQL may keep for a
 * named statement after five executions, cannot know the array's length, where the plan made for
 * each execution does (a feed read on demand over 900 authors took twice as long). Never named.
 */
const ARRAY_PARAMETER = /\$\d+::[a-z_ ]+\[\]/i;

/** Each text's name (null: never named), shared by every connection of the process. */
const names = new Map<string, string | null>();

/**
 * The name to prepare `sql` under, or undefined to send it unnamed: the same text always gets the
 * same name (so a connection that prepared it reuses it), and different texts different names.
 */
export function statementName(sql: string): string | undefined {
  const known = names.get(sql);
  if (known !== undefined) return known ?? undefined;
  if (names.size >= MAX_NAMED) return undefined;
  const name = ALL_COLUMNS.test(sql) || ARRAY_PARAMETER.test(sql) ? null : `agora_${names.size.toString(36)}`;
  names.set(sql, name);
  return name ?? undefined;
}

/**
 * `sql` is never named again: PostgreSQL refused its prepared statement because its result
 * changed under it (a migration changed a column it returns). Statements sent unnamed plan afresh.
 */
export function stopNaming(sql: string): void {
  names.set(sql, null);
}

/** Whether `error` is PostgreSQL's refusal of a prepared statement whose result changed since it was prepared. */
export function isStalePlan(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type');
}

/** An address as PostgreSQL's `host(inet_server_addr())` writes it: IPv4-mapped IPv6 addresses as IPv4. */
function plainAddress(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

/**
 * Whether a connection goes straight to PostgreSQL: the address and port the client connected
 * to (its socket's remote end) are those PostgreSQL says it received the connection on
 * (`inet_server_addr()`, `inet_server_port()`). Through a pooler or any proxy, PostgreSQL
 * received it on its own address from the pooler, which listens elsewhere. A Unix socket, where
 * PostgreSQL reports no address, cannot be told apart from a pooler's: not direct.
 */
export function isDirect(socket: { address?: string; port?: number }, server: { address: string | null; port: number | null }): boolean {
  if (socket.address === undefined || socket.port === undefined || server.address === null || server.port === null) return false;
  return plainAddress(socket.address) === plainAddress(server.address) && socket.port === Number(server.port);
}

/** What `namingFor` needs of a pooled connection. */
export interface ProbedClient {
  query(sql: string, callback: (error: Error | null, result: { rows: Record<string, unknown>[] }) => void): void;
  connection?: { stream?: { remoteAddress?: string; remotePort?: number } };
  release(error?: Error): void;
}

/** Whether the pool's statements are named, and why: for the start-up log. */
export interface Naming {
  named: boolean;
  reason: string;
  /** The database said the connection is direct (`auto` only): what is prepared on it stays on it, SQL `PREPARE`s included. */
  direct?: boolean;
}

/** Decides, for `setting`, whether the statements of the pool behind `connect` are named. */
export async function namingFor(setting: StatementNaming, connect: () => Promise<ProbedClient>): Promise<Naming> {
  if (setting === 'on') return { named: true, reason: 'DATABASE_NAMED_STATEMENTS=on' };
  if (setting === 'off') return { named: false, reason: 'DATABASE_NAMED_STATEMENTS=off' };
  const client = await connect();
  let rows: Record<string, unknown>[];
  try {
    rows = await new Promise((resolve, reject) =>
      client.query('select host(inet_server_addr()) as address, inet_server_port() as port', (error, result) => (error ? reject(error) : resolve(result.rows))),
    );
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
  client.release();
  const stream = client.connection?.stream;
  const socket = { address: stream?.remoteAddress, port: stream?.remotePort };
  const server = { address: (rows[0]?.address as string | null) ?? null, port: (rows[0]?.port as number | null) ?? null };
  if (isDirect(socket, server)) return { named: true, direct: true, reason: `the connection goes straight to PostgreSQL (${server.address}:${server.port})` };
  const received = server.address === null ? 'on a Unix socket' : `on ${server.address}:${server.port}`;
  const sent = socket.address === undefined ? 'a Unix socket' : `${socket.address}:${socket.port}`;
  return { named: false, reason: `PostgreSQL received the connection ${received}, not on ${sent}: a pooler or proxy may be in between` };
}
