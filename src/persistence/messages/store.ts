// Reads and writes the `messages` schema in plain SQL (`$n` placeholders) through `Database`.
// Lists of ids travel as one comma-separated text parameter (`string_to_array($n, ',')::uuid[]`),
// which every driver path passes as a scalar. A conversation's rows go with it (foreign keys
// within the schema); account ids have none (accounts are another domain).
import { asDate, joinOrBegin, type Database, type Queryable, type Row, type UnitOfWork } from '../sql.ts';
import { readStreamRows, streamTail, wakeStreams, type RowPosition, type StreamTable } from '../stream-rows.ts';

export interface ParticipantRow {
  accountId: string;
  closed: boolean;
}

export interface MessageRow {
  id: string;
  conversationId: string;
  authorId: string;
  text: string;
  createdAt: Date;
}

/** For one participant, the oldest message after a deleted one that they did not write (null: none). */
export interface MessageSuccessor {
  recipientId: string;
  messageId: string | null;
  authorId: string | null;
}

export interface MarkerRow {
  lastReadMessageId: string | null;
  version: number;
  /** Messages by others after the marker. */
  unreadCount: number;
}

/** A conversation as one participant sees it: with its last message and that participant's marker. */
export interface ConversationRow {
  id: string;
  createdAt: Date;
  lastActivityAt: Date;
  participants: ParticipantRow[];
  lastMessage: MessageRow | null;
  marker: MarkerRow;
}

export interface NewConversationRow {
  id: string;
  participantKey: string;
  createdAt: Date;
  /** Every participant, in the order to show them. */
  accountIds: string[];
}

export interface ListConversationsQuery {
  accountId: string;
  limit: number;
  /** Keyset: only conversations after this one in `(lastActivityAt, id)` descending order. */
  afterAt?: Date;
  afterId?: string;
  offset?: number;
}

export interface ListMessagesQuery {
  conversationId: string;
  limit: number;
  /** Keyset: only messages older than this one (ids are UUIDv7). */
  afterId?: string;
  offset?: number;
}

/** What a conditional move of a marker did: `stale` means another version is current; `behind` that it already is at or past the message. */
export type MarkerOutcome = { kind: 'done' | 'behind'; marker: MarkerRow } | { kind: 'stale'; currentVersion: number } | { kind: 'not-found' };

const ids = (list: readonly string[]) => list.join(',');

/**
 * The live stream's view of the messages: every participant's, with whether the author's
 * account is closed (src/persistence/stream-rows.ts). Read through each of the participant's
 * conversations in (txid, seq) order (index message_conversation_id_txid_seq_index).
 */
const STREAM_TABLE: StreamTable = {
  table: `messages.message m
    join messages.participant me on me.conversation_id = m.conversation_id
    left join messages.participant author on author.conversation_id = m.conversation_id and author.account_id = m.author_id`,
  alias: 'm',
  accountColumn: 'me.account_id',
  columns: 'm.id, m.conversation_id, m.author_id, m.text, m.created_at, author.closed_at is not null as author_closed',
};

/** A message as a participant's live stream reads it. */
export interface StreamMessageRow extends MessageRow {
  /** True when its author's account is closed. */
  authorClosed: boolean;
  position: RowPosition;
}

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

function toMessage(r: Row): MessageRow {
  return {
    id: r.id as string,
    conversationId: r.conversation_id as string,
    authorId: r.author_id as string,
    text: r.text as string,
    createdAt: asDate(r.created_at),
  };
}

// The unread count: messages by others after the participant `me`'s marker.
const UNREAD = `(select count(*) from messages.message u
                  where u.conversation_id = me.conversation_id and u.author_id <> me.account_id
                    and (me.last_read_message_id is null or u.id > me.last_read_message_id))::int`;

// A conversation as the participant `me` sees it; the caller adds the conditions and order.
const CONVERSATION_VIEW = `
  select c.id, c.created_at, c.last_activity_at, me.last_read_message_id, me.marker_version,
         (select json_agg(json_build_object('accountId', p.account_id, 'closed', p.closed_at is not null) order by p.position)
            from messages.participant p where p.conversation_id = c.id) as participants,
         lm.id as last_id, lm.author_id as last_author_id, lm.text as last_text, lm.created_at as last_created_at,
         ${UNREAD} as unread
    from messages.participant me
    join messages.conversation c on c.id = me.conversation_id
    left join lateral (
      select m.id, m.author_id, m.text, m.created_at from messages.message m
       where m.conversation_id = c.id order by m.id desc limit 1
    ) lm on true`;

function toConversation(r: Row): ConversationRow {
  return {
    id: r.id as string,
    createdAt: asDate(r.created_at),
    lastActivityAt: asDate(r.last_activity_at),
    participants: json<ParticipantRow[]>(r.participants),
    lastMessage:
      r.last_id === null
        ? null
        : { id: r.last_id as string, conversationId: r.id as string, authorId: r.last_author_id as string, text: r.last_text as string, createdAt: asDate(r.last_created_at) },
    marker: { lastReadMessageId: (r.last_read_message_id as string | null) ?? null, version: Number(r.marker_version), unreadCount: Number(r.unread) },
  };
}

export class MessagesStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Runs `work` in the caller's unit of work when given, in a transaction of its own otherwise:
   * for a write and the events it publishes (a job each), which must commit together.
   */
  unitOfWork<T>(uow: UnitOfWork | undefined, work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return joinOrBegin(this.#db, uow, work);
  }

  /**
   * Creates the conversation of these people, or finds the one they already have (one per
   * `participantKey`, even under concurrent starts). Runs on `uow` when given.
   */
  async insertConversation(row: NewConversationRow, uow?: UnitOfWork): Promise<{ created: boolean; id: string }> {
    const work = async (tx: Queryable) => {
      const [inserted] = await tx.query(
        `insert into messages.conversation (id, participant_key, created_at, last_activity_at) values ($1, $2, $3, $3)
         on conflict (participant_key) do nothing returning id`,
        [row.id, row.participantKey, row.createdAt],
      );
      if (!inserted) {
        const [existing] = await tx.query<{ id: string }>('select id from messages.conversation where participant_key = $1', [row.participantKey]);
        if (!existing) throw new Error('a conversation with this participant key was neither inserted nor found');
        return { created: false, id: existing.id };
      }
      await tx.query(
        `insert into messages.participant (conversation_id, account_id, position, last_read_message_id, marker_version, closed_at)
         select $1, a.id, a.n - 1, null, 0, null from unnest(string_to_array($2, ',')::uuid[]) with ordinality as a(id, n)`,
        [row.id, ids(row.accountIds)],
      );
      return { created: true, id: row.id };
    };
    return uow ? work(uow) : this.#db.transaction(work);
  }

  /** The conversation as `accountId` sees it; null when there is none or it is not in it. */
  async findConversationFor(conversationId: string, accountId: string): Promise<ConversationRow | null> {
    const [row] = await this.#db.query(`${CONVERSATION_VIEW} where me.account_id = $1 and me.conversation_id = $2`, [accountId, conversationId]);
    return row ? toConversation(row) : null;
  }

  /** `accountId`'s conversations, latest activity first. */
  async listConversations(query: ListConversationsQuery): Promise<ConversationRow[]> {
    const after = query.afterAt && query.afterId ? 'and (c.last_activity_at, c.id) < ($4, $5)' : 'and $4::timestamptz is null and $5::uuid is null';
    const rows = await this.#db.query(
      `${CONVERSATION_VIEW} where me.account_id = $1 ${after}
        order by c.last_activity_at desc, c.id desc limit $2 offset $3`,
      [query.accountId, query.limit, query.offset ?? 0, query.afterAt ?? null, query.afterId ?? null],
    );
    return rows.map(toConversation);
  }

  /** The conversation's participants in order; empty when there is no such conversation. */
  async participants(conversationId: string): Promise<ParticipantRow[]> {
    const rows = await this.#db.query(
      'select account_id, closed_at is not null as closed from messages.participant where conversation_id = $1 order by position',
      [conversationId],
    );
    return rows.map((r) => ({ accountId: r.account_id as string, closed: r.closed === true }));
  }

  /**
   * A page of the conversation's messages, newest first, with its participants in order (empty
   * when there is no such conversation), in one round trip: the caller's access is checked on
   * the participants, and reading the page beside them costs less than a second statement.
   */
  async listMessages(query: ListMessagesQuery): Promise<{ participants: ParticipantRow[]; messages: MessageRow[] }> {
    const rows = await this.#db.query(
      `select true as participant, account_id as id, null::uuid as conversation_id, null::uuid as author_id, null as text,
              null::timestamptz as created_at, closed_at is not null as closed, position
         from messages.participant where conversation_id = $1
       union all
       (select false, id, conversation_id, author_id, text, created_at, null, null from messages.message
         where conversation_id = $1 and ($2::uuid is null or id < $2)
         order by id desc limit $3 offset $4)
       order by participant desc, position, id desc`,
      [query.conversationId, query.afterId ?? null, query.limit, query.offset ?? 0],
    );
    const participants: ParticipantRow[] = [];
    const messages: MessageRow[] = [];
    for (const r of rows) {
      if (r.participant === true) participants.push({ accountId: r.id as string, closed: r.closed === true });
      else messages.push(toMessage(r));
    }
    return { participants, messages };
  }

  async findMessage(conversationId: string, messageId: string): Promise<MessageRow | null> {
    const [row] = await this.#db.query(
      'select id, conversation_id, author_id, text, created_at from messages.message where id = $1 and conversation_id = $2',
      [messageId, conversationId],
    );
    return row ? toMessage(row) : null;
  }

  /**
   * Stores a message and moves its conversation's latest activity in one statement, so a keyed
   * send's whole write goes with its claim in one round trip; then wakes every participant's live
   * streams (the author's other ones too) once it has committed (`wakeStreams`). Runs on `uow`
   * when given.
   */
  async insertMessage(row: MessageRow, uow?: UnitOfWork): Promise<MessageRow> {
    const db = uow ?? this.#db;
    // A WITH's data-modifying statements run to completion whether or not the query reads them.
    const participants = await db.query<{ account_id: string }>(
      `with message as (
           insert into messages.message (id, conversation_id, author_id, text, created_at) values ($1, $2, $3, $4, $5)
         ), activity as (
           update messages.conversation set last_activity_at = greatest(last_activity_at, $5) where id = $2
         )
         select account_id from messages.participant where conversation_id = $2`,
      [row.id, row.conversationId, row.authorId, row.text, row.createdAt],
    );
    await wakeStreams(this.#db.notices, db, participants.map((p) => p.account_id));
    return row;
  }

  /** The participant's messages after `after`, in the live stream's order, up to its safe tail (stream-rows.ts). */
  async streamSince(accountId: string, after: { txid: bigint; seq: bigint }, limit: number): Promise<{ rows: StreamMessageRow[]; pending: boolean }> {
    const { rows, pending } = await readStreamRows<Row>(this.#db, STREAM_TABLE, accountId, after, limit);
    return { rows: rows.map((r) => ({ ...toMessage(r), authorClosed: r.author_closed === true, position: { txid: r.txid, seq: r.seq } })), pending };
  }

  /** Where a live stream of the participant's messages that starts now begins (stream-rows.ts). */
  streamTail(accountId: string): Promise<{ txid: bigint; seq: bigint }> {
    return streamTail(this.#db, STREAM_TABLE, accountId);
  }

  /**
   * Deletes the message; null when there was none. Otherwise, in the same statement, each other
   * participant's successor of it: the oldest message after it that they did not write, and its
   * author (null when there is none). On `uow` when given (with the jobs of the clean-ups it causes).
   */
  async deleteMessage(conversationId: string, messageId: string, authorId: string, uow?: UnitOfWork): Promise<MessageSuccessor[] | null> {
    const rows = await (uow ?? this.#db).query(
      `with gone as (
         delete from messages.message where id = $1 and conversation_id = $2 returning id
       )
       select p.account_id, next.id as next_id, next.author_id as next_author_id
         from gone
         left join messages.participant p on p.conversation_id = $2 and p.account_id <> $3
         left join lateral (
           select m.id, m.author_id from messages.message m
            where m.conversation_id = $2 and m.id > $1 and m.author_id <> p.account_id
            order by m.id limit 1
         ) next on true`,
      [messageId, conversationId, authorId],
    );
    if (rows.length === 0) return null;
    return rows
      .filter((r) => r.account_id !== null)
      .map((r) => ({ recipientId: r.account_id as string, messageId: (r.next_id as string | null) ?? null, authorId: (r.next_author_id as string | null) ?? null }));
  }

  /** `accountId`'s marker in the conversation; null when it is not in it. */
  async findMarker(conversationId: string, accountId: string): Promise<MarkerRow | null> {
    const [row] = await this.#db.query(
      `select me.last_read_message_id, me.marker_version, ${UNREAD} as unread
         from messages.participant me where me.conversation_id = $1 and me.account_id = $2`,
      [conversationId, accountId],
    );
    return row ? { lastReadMessageId: (row.last_read_message_id as string | null) ?? null, version: Number(row.marker_version), unreadCount: Number(row.unread) } : null;
  }

  /**
   * Moves the marker forward to `messageId` if its version is `expectedVersion` (any when
   * undefined), in one conditional write; a marker already at or past it stays as it is.
   */
  async moveMarker(conversationId: string, accountId: string, messageId: string, expectedVersion: number | undefined): Promise<MarkerOutcome> {
    const [moved] = await this.#db.query(
      `update messages.participant me set last_read_message_id = $3, marker_version = marker_version + 1
        where me.conversation_id = $1 and me.account_id = $2 and ($4::int is null or me.marker_version = $4)
          and (me.last_read_message_id is null or me.last_read_message_id < $3)
        returning me.last_read_message_id, me.marker_version, ${UNREAD} as unread`,
      [conversationId, accountId, messageId, expectedVersion ?? null],
    );
    if (moved) {
      return { kind: 'done', marker: { lastReadMessageId: moved.last_read_message_id as string, version: Number(moved.marker_version), unreadCount: Number(moved.unread) } };
    }
    const current = await this.findMarker(conversationId, accountId);
    if (!current) return { kind: 'not-found' };
    if (expectedVersion !== undefined && current.version !== expectedVersion) return { kind: 'stale', currentVersion: current.version };
    return { kind: 'behind', marker: current };
  }

  /**
   * Marks a closed account in every conversation it was in (its messages stay), and removes the
   * conversations nobody open is left in.
   */
  async closeParticipant(accountId: string, now: Date): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('update messages.participant set closed_at = $2 where account_id = $1 and closed_at is null', [accountId, now]);
      await tx.query(
        `delete from messages.conversation c
          where c.id in (select conversation_id from messages.participant where account_id = $1)
            and not exists (select 1 from messages.participant p where p.conversation_id = c.id and p.closed_at is null)`,
        [accountId],
      );
    });
  }
}
