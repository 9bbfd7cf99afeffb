// What a table needs to be a source of the live stream (GET /v1/stream), for the domains that
// own such tables (notifications, messages): the two columns, the read of the "safe tail", and
// the wake-up a write sends at commit.
//
// Each row carries `txid` (the writing transaction's id, xid8) and `seq` (a bigserial). Rows are
// delivered in (txid, seq) order, and a row only once its transaction is older than every
// transaction still running: `txid < pg_snapshot_xmin(pg_current_snapshot())`. Any transaction
// that commits after that read has a txid at or above that xmin (it was running, or had not
// begun), so every row committed later sorts after every row delivered: a position (txid, seq)
// has no gaps behind it, and Last-Event-ID resumes exactly. Ordering by seq alone would not do:
// a transaction can take its xid first and draw its seq later, so a row with a larger seq can
// commit, and be delivered, before a row with a smaller seq whose transaction is still running.
// A committed row not yet safe (an older transaction, anywhere on the server, is still running)
// is held back and looked for again shortly (the result says `pending`).
//
// A write that adds rows for an account also runs WAKE_STREAMS_SQL with the account's id in the
// same transaction (or statement): PostgreSQL delivers the notification at commit, to every
// instance (the listener of invalidations.ts), and each wakes that account's open streams.
import { INVALIDATION_CHANNEL } from './invalidations.ts';
import type { Queryable } from './sql.ts';

/** The column definitions a stream source's table declares, e.g. in its migration. */
export const STREAM_COLUMNS_DDL = 'txid xid8 not null default pg_current_xact_id(), seq bigserial not null';

/** The payload that wakes the streams of the account whose id (a UUID) is the text expression `account`. */
export function wakePayloadSql(account: string): string {
  return `pg_notify('${INVALIDATION_CHANNEL}', 'w:' || ${account})`;
}

/** Notifies every instance, at commit, that the account `$1` (a UUID string) has new stream rows. */
export const WAKE_STREAMS_SQL = `select ${wakePayloadSql('$1::text')}`;

/** The condition that makes a row deliverable: every transaction that could still commit a row before it has finished. */
export const SAFE_ROW_SQL = safeRowSql('');

function safeRowSql(alias: string): string {
  return `${alias}txid < pg_snapshot_xmin(pg_current_snapshot())`;
}

/** Notifies, at the commit of the transaction `db` runs in, the open streams of these accounts. */
export async function wakeStreams(db: Queryable, accountIds: Iterable<string>): Promise<void> {
  for (const accountId of new Set(accountIds)) await db.query(WAKE_STREAMS_SQL, [accountId]);
}

/** A row's place in its source: its transaction's id and its seq, as decimal strings. */
export interface RowPosition extends Record<string, unknown> {
  txid: string;
  seq: string;
}

export interface StreamTable {
  /**
   * Schema-qualified, quoted as needed: `notifications.notification`; or a join that gives each
   * row its accounts (`messages.message m join messages.participant p on ...`).
   */
  table: string;
  /** The row's alias in `table` when it is a join (`m`): its txid and seq are read through it. */
  alias?: string;
  /** The column naming the account whose stream a row belongs to. */
  accountColumn: string;
  /** The columns to read besides txid and seq (a select list, e.g. `id, kind, created_at`). */
  columns: string;
}

export interface StreamRows<R> {
  /** The deliverable rows after the position, in (txid, seq) order. */
  rows: (R & RowPosition)[];
  /** True when a committed row beyond them is held back until older transactions finish. */
  pending: boolean;
}

/**
 * The rows of `accountId` after `after`, at most `limit`, up to the safe tail. An index on
 * (accountColumn, txid, seq) serves it.
 */
export async function readStreamRows<R extends Record<string, unknown>>(
  db: Queryable,
  source: StreamTable,
  accountId: string,
  after: { txid: bigint; seq: bigint },
  limit: number,
): Promise<StreamRows<R>> {
  const a = source.alias ? `${source.alias}.` : '';
  // In (txid, seq) order the safe rows come first: the first one that is not ends the batch.
  const found = await db.query<R & RowPosition & { safe: boolean }>(
    `select ${source.columns}, ${a}txid::text as txid, ${a}seq::text as seq, ${safeRowSql(a)} as safe from ${source.table}
      where ${source.accountColumn} = $1 and (${a}txid, ${a}seq) > ($2::xid8, $3::bigint) order by ${a}txid, ${a}seq limit $4`,
    [accountId, String(after.txid), String(after.seq), limit],
  );
  const unsafe = found.findIndex((row) => !row.safe);
  const rows = (unsafe < 0 ? found : found.slice(0, unsafe)).map(({ safe: _safe, ...row }) => row as unknown as R & RowPosition);
  return { rows, pending: unsafe >= 0 };
}

/**
 * The position a stream that starts now begins after: the account's last deliverable row
 * ({0, 0} when none). Rows committed but not yet safe lie beyond it, and so does every row
 * committed from now on.
 */
export async function streamTail(db: Queryable, source: StreamTable, accountId: string): Promise<{ txid: bigint; seq: bigint }> {
  const a = source.alias ? `${source.alias}.` : '';
  const [row] = await db.query<RowPosition>(
    `select ${a}txid::text as txid, ${a}seq::text as seq from ${source.table}
      where ${source.accountColumn} = $1 and ${safeRowSql(a)} order by ${a}txid desc, ${a}seq desc limit 1`,
    [accountId],
  );
  return row ? { txid: BigInt(row.txid), seq: BigInt(row.seq) } : { txid: 0n, seq: 0n };
}
