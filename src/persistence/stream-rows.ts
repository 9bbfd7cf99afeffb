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
// A write that adds rows for an account wakes the account's open streams on every instance (the
// listener of invalidations.ts) with a notification once it has committed: `wakeStreams`, which
// sends it after the commit, gathered with the instance's others (notices.ts), or, where the
// commit is not ours to see (a job's transaction), inside the transaction, with
// WAKE_STREAMS_SQL or `wakePayloadSql` in the statement, delivered by PostgreSQL at the commit.
import { INVALIDATION_CHANNEL } from './invalidations.ts';
import { idPayloads, notifyIdsOnCommit, type Notices } from './notices.ts';
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

/** Account ids in one wake-up's payload: 100 UUIDs and their commas are under PostgreSQL's 8,000 bytes a payload. */
const WAKE_IDS_A_PAYLOAD = 100;

/** The topic of the live streams' wake-ups (the stream domain listens to it). */
const WAKE_TOPIC = 'w';

/** The payloads that wake these accounts' streams: `w:<id>,<id>…`. */
export function wakePayloads(accountIds: Iterable<string>): string[] {
  return idPayloads(WAKE_TOPIC, accountIds, WAKE_IDS_A_PAYLOAD);
}

/**
 * Wakes the open streams of these accounts, on every instance, once the write made through `db`
 * (the pool, or a unit of work) has committed (`notifyIdsOnCommit`: joined with the other writes'
 * wake-ups sent meanwhile).
 */
export function wakeStreams(notices: Notices, db: Queryable, accountIds: readonly string[]): Promise<void> {
  return notifyIdsOnCommit(notices, db, INVALIDATION_CHANNEL, WAKE_TOPIC, accountIds, WAKE_IDS_A_PAYLOAD);
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
 * How long a stream that starts now waits, at most, for the transactions of this database that
 * are older than the account's last committed row (see `streamTail`). Below the domain servers'
 * call deadline (REMOTE_CALL_TIMEOUT_MS, 2 s by default), since a stub asks for the tail remotely.
 */
export const TAIL_WAIT_MS = 1000;

/** A comment in the waiting statement's text, so that it can be told in `pg_stat_activity` (the tests look for it). */
export const TAIL_WAIT_MARK = 'stream tail: waiting for older transactions';

/**
 * The position a stream that starts now begins after: the account's last committed row ({0, 0}
 * when none), so that the stream carries what is committed from then on, and nothing before.
 *
 * That row may not be deliverable yet: a transaction older than it may still be running, and a
 * row it commits later sorts before it. Such a transaction can only be one of this database (a
 * transaction elsewhere on the server holds back the safe tail, but writes no row here): the tail
 * waits until none older than the row is running here (at most `waitMs`). Then every row behind
 * it is known: one committed since the tail was asked for (the older transaction wrote for this
 * account) is delivered, by starting just before it, at the cost of delivering again the rows
 * after it that were committed before. If the wait runs out, the stream starts at the last
 * deliverable row: rows committed before it opened may then come too, and none is lost.
 */
export async function streamTail(db: Queryable, source: StreamTable, accountId: string, waitMs = TAIL_WAIT_MS): Promise<{ txid: bigint; seq: bigint }> {
  const a = source.alias ? `${source.alias}.` : '';
  const last = (condition: string) =>
    `(select ${a}txid::text || '-' || ${a}seq::text from ${source.table}
       where ${source.accountColumn} = $1${condition} order by ${a}txid desc, ${a}seq desc limit 1)`;
  const [tail] = await db.query<{ snapshot: string; committed: string | null; deliverable: string | null }>(
    `select pg_current_snapshot()::text as snapshot, ${last('')} as committed, ${last(` and ${safeRowSql(a)}`)} as deliverable`,
    [accountId],
  );
  const deliverable = parsePair(tail!.deliverable);
  if (tail!.committed === tail!.deliverable) return deliverable;
  const committed = parsePair(tail!.committed);

  const deadline = performance.now() + waitMs;
  for (let pause = 5; ; pause = Math.min(2 * pause, 100)) {
    const [running] = await db.query<{ older: boolean }>(
      `/* ${TAIL_WAIT_MARK} */ select exists (select 1 from pg_stat_activity
         where datname = current_database() and backend_xid is not null and age(backend_xid) > age($1::xid8::xid)) as older`,
      [String(committed.txid)],
    );
    if (!running?.older) break;
    if (performance.now() + pause > deadline) return deliverable;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  const [late] = await db.query<RowPosition>(
    `select ${a}txid::text as txid, ${a}seq::text as seq from ${source.table}
      where ${source.accountColumn} = $1 and (${a}txid, ${a}seq) < ($2::xid8, $3::bigint)
        and not pg_visible_in_snapshot(${a}txid, $4::pg_snapshot)
      order by ${a}txid, ${a}seq limit 1`,
    [accountId, String(committed.txid), String(committed.seq), tail!.snapshot],
  );
  return late ? { txid: BigInt(late.txid), seq: BigInt(late.seq) - 1n } : committed;
}

/** `txid-seq` as read by `streamTail` ({0, 0} for none). */
function parsePair(pair: string | null): { txid: bigint; seq: bigint } {
  if (pair === null) return { txid: 0n, seq: 0n };
  const [txid, seq] = pair.split('-') as [string, string];
  return { txid: BigInt(txid), seq: BigInt(seq) };
}
