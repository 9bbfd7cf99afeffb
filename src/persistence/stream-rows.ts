// What a table needs to be a source of the live stream (GET /v1/stream), for the domains that
// own such tables (notifications, messages): the two columns, the read of the "safe tail", and
// the wake-up a write sends at commit.
//
// Each row carries `seq` (bigserial: the position the stream and the REST list page by) and
// `txid` (the writing transaction's id). Sequence values are drawn when rows are inserted but
// become visible when their transactions commit, which need not be in the same order: reading
// "seq > position" could pass over a row whose transaction commits a moment later with a smaller
// seq, and a client resuming after the larger one would never see it. So a reader delivers only
// rows whose transaction is older than every transaction still running
// (`txid < pg_snapshot_xmin(pg_current_snapshot())`), and stops at the first row that is not:
// what lies beyond it is read again shortly (the result says `pending`). The columns are declared
// `txid` first, so that an INSERT (which evaluates defaults in column order) takes its
// transaction id before it draws the row's seq.
//
// A write that adds rows for an account also runs WAKE_STREAMS_SQL with the account's id in the
// same transaction: PostgreSQL delivers the notification at commit, to every instance (the
// listener of invalidations.ts), and each wakes that account's open streams.
import { INVALIDATION_CHANNEL } from './invalidations.ts';
import type { Queryable } from './sql.ts';

/** The column definitions a stream source's table declares (in this order), e.g. in its migration. */
export const STREAM_COLUMNS_DDL = 'txid xid8 not null default pg_current_xact_id(), seq bigserial not null';

/** Notifies every instance, at commit, that the account `$1` (a UUID string) has new stream rows. */
export const WAKE_STREAMS_SQL = `select pg_notify('${INVALIDATION_CHANNEL}', 'w:' || $1::text)`;

/** The condition that makes a row deliverable: every transaction that could still commit a smaller seq has finished. */
export const SAFE_ROW_SQL = 'txid < pg_snapshot_xmin(pg_current_snapshot())';

/** Notifies, at the commit of the transaction `db` runs in, the open streams of these accounts. */
export async function wakeStreams(db: Queryable, accountIds: Iterable<string>): Promise<void> {
  for (const accountId of new Set(accountIds)) await db.query(WAKE_STREAMS_SQL, [accountId]);
}

export interface StreamTable {
  /** Schema-qualified, quoted as needed: `notifications.notification`. */
  table: string;
  /** The column naming the account whose stream a row belongs to. */
  accountColumn: string;
  /** The columns to read besides seq (a select list, e.g. `id, kind, created_at`). */
  columns: string;
}

export interface StreamRows<R> {
  /** The deliverable rows after the position, in seq order. */
  rows: (R & { seq: string })[];
  /** True when a committed row beyond them is held back until older transactions finish. */
  pending: boolean;
}

/**
 * The rows of `accountId` after `after` (null: from the first), at most `limit`, up to the safe
 * tail. An index on (accountColumn, seq) serves it.
 */
export async function readStreamRows<R extends Record<string, unknown>>(
  db: Queryable,
  source: StreamTable,
  accountId: string,
  after: bigint | null,
  limit: number,
): Promise<StreamRows<R>> {
  const found = await db.query<R & { seq: string; safe: boolean }>(
    `select ${source.columns}, seq::text as seq, ${SAFE_ROW_SQL} as safe from ${source.table}
      where ${source.accountColumn} = $1 and seq > $2 order by seq limit $3`,
    [accountId, String(after ?? 0n), limit],
  );
  const unsafe = found.findIndex((row) => !row.safe);
  const rows = (unsafe < 0 ? found : found.slice(0, unsafe)).map(({ safe: _safe, ...row }) => row as unknown as R & { seq: string });
  return { rows, pending: unsafe >= 0 };
}

/** The position a stream that starts now begins after: the account's last deliverable row (0 when none). */
export async function streamTail(db: Queryable, source: StreamTable, accountId: string): Promise<bigint> {
  // The last row, safe or not; then the last safe one before the first row that is not.
  const [row] = await db.query<{ tail: string }>(
    `select coalesce(
       (select min(seq) - 1 from ${source.table} where ${source.accountColumn} = $1 and not (${SAFE_ROW_SQL})),
       (select max(seq) from ${source.table} where ${source.accountColumn} = $1),
       0)::text as tail`,
    [accountId],
  );
  return BigInt(row!.tail);
}
