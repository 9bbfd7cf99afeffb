// Reads and writes the `notifications` schema in plain SQL over a `Database` (src/persistence/sql.ts).
// Every insert is `on conflict (recipient_id, source_key) do nothing`: a consumer run twice for
// the same cause (a retried job, a replayed event) leaves one notification. Lists travel as one
// JSON text parameter, so every statement takes scalars only.
import { joinOrBegin, together, type Database, type Queryable, type Row, type Statement, type UnitOfWork } from '../sql.ts';
import { readStreamRows, streamTail, wakePayloadSql, type RowPosition, type StreamTable } from '../stream-rows.ts';

export type NotificationType = 'friendRequestReceived' | 'friendRequestAccepted' | 'messageReceived' | 'channelPost' | 'mention';

export interface NotificationRow {
  id: string;
  /** The position, a decimal string (a bigint). */
  seq: string;
  recipientId: string;
  type: NotificationType;
  actorId: string;
  postId: string | null;
  channelId: string | null;
  conversationId: string | null;
  messageId: string | null;
  friendRequestId: string | null;
  groupKey: string;
  sourceKey: string;
  createdAt: Date;
}

export type NewNotificationRow = Omit<NotificationRow, 'seq'>;

export interface GroupRow {
  groupKey: string;
  count: number;
  /** The position of the group's newest notification. */
  latestSeq: string;
  oldestAt: Date;
  newestAt: Date;
  /** The actors of the group's newest notifications, newest first (repeats included). */
  actorIds: string[];
}

export interface ListQuery {
  recipientId: string;
  /** Only these types; every type when undefined. */
  types?: readonly NotificationType[];
  /** Keyset: only positions below this one. */
  beforeSeq?: string;
  offset?: number;
  limit: number;
}

export interface MarkerRow {
  lastReadSeq: string | null;
  lastReadId: string | null;
  /** 0 while the account has never moved its marker. */
  version: number;
  /** Notifications after the marker, counted up to `unreadCap` + 1. */
  unread: number;
}

export type MarkerMove = { kind: 'done'; version: number } | { kind: 'unchanged'; version: number } | { kind: 'stale'; currentVersion: number };

const COLUMNS = 'id, seq, recipient_id, type, actor_id, post_id, channel_id, conversation_id, message_id, friend_request_id, group_key, source_key, created_at';
const RECORDSET = `jsonb_to_recordset($1::jsonb) as r(id uuid, recipient_id uuid, type text, actor_id uuid, post_id uuid, channel_id uuid,
  conversation_id uuid, message_id uuid, friend_request_id uuid, group_key text, source_key text, created_at timestamptz)`;
const INSERTED_COLUMNS = 'id, recipient_id, type, actor_id, post_id, channel_id, conversation_id, message_id, friend_request_id, group_key, source_key, created_at';

/** The live stream's view of the table: each recipient's notifications (src/persistence/stream-rows.ts). */
const STREAM_TABLE: StreamTable = {
  table: 'notifications.notification',
  accountColumn: 'recipient_id',
  columns: COLUMNS.replace('seq, ', ''),
};

/**
 * An insert (`returning id, recipient_id`) that also wakes each recipient's live streams when its
 * transaction commits (stream-rows.ts); its rows are the inserted ids.
 */
function waking(insert: string): string {
  return `with inserted as (${insert}) select id, ${wakePayloadSql('recipient_id::text')} as woken from inserted`;
}

function date(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

function fromRecord(r: Row): NotificationRow {
  return {
    id: r.id as string,
    seq: String(r.seq),
    recipientId: r.recipient_id as string,
    type: r.type as NotificationType,
    actorId: r.actor_id as string,
    postId: (r.post_id as string | null) ?? null,
    channelId: (r.channel_id as string | null) ?? null,
    conversationId: (r.conversation_id as string | null) ?? null,
    messageId: (r.message_id as string | null) ?? null,
    friendRequestId: (r.friend_request_id as string | null) ?? null,
    groupKey: r.group_key as string,
    sourceKey: r.source_key as string,
    createdAt: date(r.created_at),
  };
}

/** `rows` as the JSON text of RECORDSET; `ordered`: each with its place (`ord`, from 0). */
function asJson(rows: readonly NewNotificationRow[], ordered = false): string {
  return JSON.stringify(
    rows.map((r, ord) => ({
      id: r.id,
      recipient_id: r.recipientId,
      type: r.type,
      actor_id: r.actorId,
      post_id: r.postId,
      channel_id: r.channelId,
      conversation_id: r.conversationId,
      message_id: r.messageId,
      friend_request_id: r.friendRequestId,
      group_key: r.groupKey,
      source_key: r.sourceKey,
      created_at: r.createdAt.toISOString(),
      ...(ordered ? { ord } : {}),
    })),
  );
}

/** `text[]` as `pg` gives it (an array), or as PostgreSQL writes it (`{a,b}`) on a path that does not parse it. */
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  const text = String(value ?? '{}');
  return text === '{}' ? [] : text.slice(1, -1).split(',');
}

/**
 * Not about something deleted before its event's job ran: a deletion keeps the source keys it
 * forgot (`notifications.forgotten`) for FORGOTTEN_DAYS.
 */
const NOT_FORGOTTEN = 'not exists (select 1 from notifications.forgotten f where f.source_key = r.source_key)';
const FORGOTTEN_DAYS = 7;
/** Remembers source keys (`$n::text[]`) as forgotten, and lets go of those past FORGOTTEN_DAYS: CTEs of a deletion's statement. */
const forget = (keys: string) => `forgotten as (
         insert into notifications.forgotten (source_key, forgotten_at) select k, now() from unnest(${keys}) k on conflict (source_key) do nothing
       ), expired as (
         delete from notifications.forgotten where forgotten_at < now() - interval '${FORGOTTEN_DAYS} days'
       )`;

const typeFilter = (types: readonly NotificationType[] | undefined) => (types === undefined ? null : types.join(','));

export class NotificationsStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Inserts the notifications that are not there yet (same recipient and source key) and are
   * not about the recipient's own action; returns how many were inserted. Writes on `uow` when
   * given (a consumer's job: the notification commits with the job's completion).
   */
  async insert(rows: readonly NewNotificationRow[], uow?: UnitOfWork): Promise<number> {
    if (rows.length === 0) return 0;
    const inserted = await (uow ?? (this.#db as Queryable)).query(
      waking(`insert into notifications.notification (${INSERTED_COLUMNS})
       select ${INSERTED_COLUMNS} from ${RECORDSET}
        where r.recipient_id <> r.actor_id and ${NOT_FORGOTTEN}
       on conflict (recipient_id, source_key) do nothing
       returning id, recipient_id`),
      [asJson(rows)],
    );
    return inserted.length;
  }

  /**
   * Inserts the message notifications of recipients who have no unread notification of the same
   * conversation yet (one after their marker, not dismissed): a conversation being written in
   * notifies once until its recipient reads that notification. `rows` may be several messages'
   * (of several conversations), in the order they were sent: the effect is theirs one after the
   * other, in one statement. Of each recipient's rows of a conversation, the first one that
   * would be inserted alone (not its own action, not forgotten, not there yet) is the only
   * candidate, since the later ones would find it unread. Serialized per conversation, so two
   * messages at once cannot both find none: the conversations' locks are taken in their ids'
   * order (as a batch's jobs run), with the insert, in one round trip.
   */
  async insertUnlessConversationUnread(rows: readonly NewNotificationRow[], unitOfWork?: UnitOfWork): Promise<number> {
    if (rows.length === 0) return 0;
    const conversations = [...new Set(rows.map((r) => r.conversationId!))].sort();
    return joinOrBegin(this.#db, unitOfWork, async (uow) => {
      // The locks, then the insert, which takes its snapshot holding them: in one round trip.
      const [, inserted] = await together(uow, [
        conversationLocks(conversations),
        {
          sql: waking(`insert into notifications.notification (${INSERTED_COLUMNS})
         select ${INSERTED_COLUMNS} from (
           select distinct on (r.recipient_id, r.conversation_id) r.*
             from ${RECORDSET.replace('created_at timestamptz)', 'created_at timestamptz, ord int)')}
            where r.recipient_id <> r.actor_id and ${NOT_FORGOTTEN}
              and not exists (select 1 from notifications.notification x where x.recipient_id = r.recipient_id and x.source_key = r.source_key)
            order by r.recipient_id, r.conversation_id, r.ord
         ) r
          where not exists (
              select 1 from notifications.notification n
               where n.recipient_id = r.recipient_id and n.type = 'messageReceived' and n.conversation_id = r.conversation_id
                 and n.seq > coalesce((select m.last_read_seq from notifications.marker m where m.account_id = r.recipient_id), 0))
          order by r.ord
         on conflict (recipient_id, source_key) do nothing
         returning id, recipient_id`),
          params: [asJson(rows, true)],
        },
      ]);
      return inserted!.length;
    });
  }

  /** The recipient's notifications after `after` in the live stream's order, up to its safe tail (stream-rows.ts). */
  async streamSince(recipientId: string, after: { txid: bigint; seq: bigint }, limit: number): Promise<{ rows: (NotificationRow & { position: RowPosition })[]; pending: boolean }> {
    const { rows, pending } = await readStreamRows<Row>(this.#db, STREAM_TABLE, recipientId, after, limit);
    return { rows: rows.map((r) => ({ ...fromRecord(r), position: { txid: r.txid, seq: r.seq } })), pending };
  }

  /** Where a live stream of the recipient's notifications that starts now begins (stream-rows.ts). */
  streamTail(recipientId: string): Promise<{ txid: bigint; seq: bigint }> {
    return streamTail(this.#db, STREAM_TABLE, recipientId);
  }

  /** One recipient's notifications, newest first. */
  async list(query: ListQuery): Promise<NotificationRow[]> {
    const rows = await this.#db.query(
      `select ${COLUMNS} from notifications.notification
        where recipient_id = $1
          and ($2::text is null or type = any(string_to_array($2::text, ',')))
          and ($3::bigint is null or seq < $3::bigint)
        order by seq desc
        limit $4 offset $5`,
      [query.recipientId, typeFilter(query.types), query.beforeSeq ?? null, query.limit, query.offset ?? 0],
    );
    return rows.map(fromRecord);
  }

  /** One recipient's notifications gathered by group key, the group with the newest notification first. */
  async groups(query: ListQuery, sampleSize: number): Promise<GroupRow[]> {
    const rows = await this.#db.query(
      `select group_key, count(*)::int as count, max(seq) as latest_seq, min(created_at) as oldest_at, max(created_at) as newest_at,
              (array_agg(actor_id::text order by seq desc))[1:$6::int] as actor_ids
         from notifications.notification
        where recipient_id = $1
          and ($2::text is null or type = any(string_to_array($2::text, ',')))
        group by group_key
       having ($3::bigint is null or max(seq) < $3::bigint)
        order by max(seq) desc
        limit $4 offset $5`,
      [query.recipientId, typeFilter(query.types), query.beforeSeq ?? null, query.limit, query.offset ?? 0, sampleSize],
    );
    return rows.map((r) => ({
      groupKey: r.group_key as string,
      count: Number(r.count),
      latestSeq: String(r.latest_seq),
      oldestAt: date(r.oldest_at),
      newestAt: date(r.newest_at),
      actorIds: textArray(r.actor_ids),
    }));
  }

  /** A recipient's notifications at these positions. */
  async findBySeqs(recipientId: string, seqs: readonly string[]): Promise<NotificationRow[]> {
    if (seqs.length === 0) return [];
    const rows = await this.#db.query(
      `select ${COLUMNS} from notifications.notification
        where recipient_id = $1 and seq = any(string_to_array($2::text, ',')::bigint[])`,
      [recipientId, seqs.join(',')],
    );
    return rows.map(fromRecord);
  }

  async find(recipientId: string, id: string): Promise<NotificationRow | null> {
    const rows = await this.#db.query(`select ${COLUMNS} from notifications.notification where recipient_id = $1 and id = $2`, [recipientId, id]);
    return rows[0] ? fromRecord(rows[0]) : null;
  }

  async delete(recipientId: string, id: string): Promise<boolean> {
    return (await this.#db.query('delete from notifications.notification where recipient_id = $1 and id = $2 returning id', [recipientId, id])).length > 0;
  }

  /** The account's marker (version 0 and no position when it never moved it) and how many are unread. */
  async marker(accountId: string, unreadCap: number): Promise<MarkerRow> {
    const [row] = await this.#db.query(
      `select m.last_read_seq, m.last_read_id, coalesce(m.version, 0) as version,
              (select count(*)::int from (
                 select 1 from notifications.notification n
                  where n.recipient_id = $1 and n.seq > coalesce(m.last_read_seq, 0)
                  limit $2) unread) as unread
         from (select 1) one
         left join notifications.marker m on m.account_id = $1`,
      [accountId, unreadCap + 1],
    );
    return {
      lastReadSeq: row!.last_read_seq === null ? null : String(row!.last_read_seq),
      lastReadId: (row!.last_read_id as string | null) ?? null,
      version: Number(row!.version),
      unread: Number(row!.unread),
    };
  }

  /**
   * Moves the marker forward to (`seq`, `id`) if its version is `expectedVersion` (any when
   * undefined; 0 is the version of a marker never moved). A move backwards, or to where it
   * is, changes nothing.
   */
  async moveMarker(accountId: string, seq: string, id: string, expectedVersion: number | undefined, now: Date): Promise<MarkerMove> {
    // A marker never moved has no row: only a move that expects version 0 (or any) may create it.
    const [moved] = expectedVersion === undefined || expectedVersion === 0
      ? await this.#db.query(
          `insert into notifications.marker (account_id, last_read_seq, last_read_id, version, updated_at)
           values ($1, $2, $3, 1, $4)
           on conflict (account_id) do update
              set last_read_seq = excluded.last_read_seq, last_read_id = excluded.last_read_id,
                  version = notifications.marker.version + 1, updated_at = excluded.updated_at
            where notifications.marker.last_read_seq < excluded.last_read_seq
              and ($5::int is null or notifications.marker.version = $5::int)
           returning version`,
          [accountId, seq, id, now, expectedVersion ?? null],
        )
      : await this.#db.query(
          `update notifications.marker
              set last_read_seq = $2, last_read_id = $3, version = version + 1, updated_at = $4
            where account_id = $1 and version = $5 and last_read_seq < $2
           returning version`,
          [accountId, seq, id, now, expectedVersion],
        );
    if (moved) return { kind: 'done', version: Number(moved.version) };
    const [current] = await this.#db.query('select version from notifications.marker where account_id = $1', [accountId]);
    const version = current ? Number(current.version) : 0;
    if (expectedVersion !== undefined && version !== expectedVersion) return { kind: 'stale', currentVersion: version };
    return { kind: 'unchanged', version };
  }

  /** Removes an account's notifications and marker, and the notifications it caused for others. */
  async deleteAccount(accountId: string): Promise<void> {
    await this.#db.transaction(async (uow) => {
      await uow.query('delete from notifications.notification where recipient_id = $1 or actor_id = $1', [accountId]);
      await uow.query('delete from notifications.marker where account_id = $1', [accountId]);
    });
  }

  /** Removes the notifications about posts of deleted channels. */
  async deleteChannels(channelIds: readonly string[]): Promise<void> {
    if (channelIds.length === 0) return;
    await this.#db.query('delete from notifications.notification where channel_id = any(string_to_array($1::text, \',\')::uuid[])', [channelIds.join(',')]);
  }

  /** Removes the notifications about deleted posts, and keeps their source keys, so that a job run late makes none. */
  async deletePosts(postIds: readonly string[]): Promise<void> {
    if (postIds.length === 0) return;
    await this.#db.query(
      `with ids as (select unnest(string_to_array($1::text, ',')::uuid[]) as id), ${forget("(select array_agg('post:' || id) from ids)")}
       delete from notifications.notification where post_id in (select id from ids)`,
      [postIds.join(',')],
    );
  }

  /**
   * The notifications naming a deleted message: each recipient's now names its successor (and
   * that message's author), or goes when it has none (or is not among them) or already has a
   * notice of that message (a newer one, made after it read this one); its source key is
   * kept, so that its job, if it runs later, makes none. One statement: the update and the
   * delete take disjoint rows. It holds the conversation's lock, as the notices' insert does
   * (sent with its BEGIN): a notice of the message that a job's transaction has written but not
   * committed yet (a batch of them holds the lock until it commits) is renamed or removed once
   * it is there, not left behind naming a deleted message.
   */
  async repointMessage(conversationId: string, messageId: string, successors: readonly { recipientId: string; messageId: string | null; authorId: string | null }[]): Promise<void> {
    const next = successors.filter((s) => s.messageId !== null && s.authorId !== null);
    await this.#db.transaction(
      (uow) =>
        uow.query(
          `with next as (
             select * from unnest($2::uuid[], $3::uuid[], $4::uuid[]) as s(recipient_id, message_id, author_id)
           ), named as (
             -- The recipients that already have a notice of their successor (a newer notice, made after
             -- they read this one): theirs goes rather than name that message a second time.
             select next.recipient_id from next
              where exists (select 1 from notifications.notification x where x.recipient_id = next.recipient_id and x.message_id = next.message_id)
           ), ${forget("array['message:' || $1::uuid::text]")}, repointed as (
             update notifications.notification n set message_id = next.message_id, actor_id = next.author_id
               from next where n.message_id = $1 and n.recipient_id = next.recipient_id
                and not exists (select 1 from named where named.recipient_id = n.recipient_id)
           )
           delete from notifications.notification n
            where n.message_id = $1
              and (not exists (select 1 from next where next.recipient_id = n.recipient_id) or exists (select 1 from named where named.recipient_id = n.recipient_id))`,
          [messageId, next.map((s) => s.recipientId), next.map((s) => s.messageId), next.map((s) => s.authorId)],
        ),
      { ahead: conversationLock(conversationId) },
    );
  }
}

/** The lock a conversation's message notices are written and renamed under. */
function conversationLock(conversationId: string): Statement {
  return conversationLocks([conversationId]);
}

/** The locks of conversations (their ids in order), taken in their order. */
function conversationLocks(conversationIds: readonly string[]): Statement {
  return {
    sql: `select pg_advisory_xact_lock(hashtextextended('notifications.conversation:' || c.id, 0))
            from (select id from jsonb_array_elements_text($1::jsonb) with ordinality as c(id, ord) order by ord) c`,
    params: [JSON.stringify(conversationIds)],
  };
}
