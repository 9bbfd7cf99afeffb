// Reads and writes the `social` schema. Requests and friendships between the same two accounts
// are changed under a transaction-scoped advisory lock on the pair, so that two people asking
// each other at the same moment, or accepting twice, cannot leave the graph half-made.
import { asDate, joinOrBegin, violatedConstraint, withSavepoint, type Database, type Queryable, type Row, type UnitOfWork } from '../sql.ts';

export interface FriendRequestRow {
  id: string;
  senderId: string;
  recipientId: string;
  createdAt: Date;
}

export interface FriendshipRow {
  id: string;
  accountId: string;
  friendId: string;
  createdAt: Date;
}

interface KeysetQuery {
  limit: number;
  newestFirst: boolean;
  /** Keyset: only rows after this id in the chosen order. */
  afterId?: string;
  offset?: number;
}

export interface ListFriendRequestsQuery extends KeysetQuery {
  accountId: string;
  direction: 'incoming' | 'outgoing';
}

export interface ListFriendsQuery extends KeysetQuery {
  accountId: string;
}

export type NewRequestOutcome =
  | { kind: 'done'; row: FriendRequestRow }
  | { kind: 'friends' }
  | { kind: 'duplicate' }
  | { kind: 'reverse-pending' };

export type AcceptOutcome = { kind: 'done'; row: FriendshipRow } | { kind: 'already'; row: FriendshipRow } | { kind: 'no-request' };

function toRequestRow(r: Row): FriendRequestRow {
  return { id: r.id as string, senderId: r.sender_id as string, recipientId: r.recipient_id as string, createdAt: asDate(r.created_at) };
}

function toFriendshipRow(r: Row): FriendshipRow {
  return { id: r.id as string, accountId: r.account_id as string, friendId: r.friend_id as string, createdAt: asDate(r.created_at) };
}

const REQUEST_COLUMNS = 'id, sender_id, recipient_id, created_at';
const FRIENDSHIP_COLUMNS = 'id, account_id, friend_id, created_at';

/**
 * One keyset page: `where` (conditions on `params`, numbered from $1) plus the cursor, ordered
 * by id, with limit and offset.
 */
async function page(db: Queryable, from: string, columns: string, where: string[], params: unknown[], query: KeysetQuery): Promise<Row[]> {
  const all = [...params];
  const conditions = [...where];
  if (query.afterId) {
    all.push(query.afterId);
    conditions.push(`id ${query.newestFirst ? '<' : '>'} $${all.length}`);
  }
  all.push(query.limit, query.offset ?? 0);
  return db.query(
    `select ${columns} from ${from} where ${conditions.join(' and ')}
      order by id ${query.newestFirst ? 'desc' : 'asc'} limit $${all.length - 1} offset $${all.length}`,
    all,
  );
}

/** Serialises changes between two accounts, whichever way round they are named. */
async function lockPair(uow: UnitOfWork, a: string, b: string): Promise<void> {
  const key = a < b ? `${a}:${b}` : `${b}:${a}`;
  await uow.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
}

export class SocialStore {
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

  /** Inserts a request unless they are friends or a request between them is already pending. */
  async insertRequest(row: FriendRequestRow, uow?: UnitOfWork): Promise<NewRequestOutcome> {
    return joinOrBegin(this.#db, uow, async (tx) => {
      await lockPair(tx, row.senderId, row.recipientId);
      const [state] = await tx.query(
        `select exists(select 1 from social.friendship where account_id = $1 and friend_id = $2) as friends,
                exists(select 1 from social.friend_request where sender_id = $2 and recipient_id = $1) as reverse`,
        [row.senderId, row.recipientId],
      );
      if (state?.friends === true) return { kind: 'friends' };
      if (state?.reverse === true) return { kind: 'reverse-pending' };
      try {
        // In a savepoint, so a duplicate does not abort the enclosing transaction.
        await withSavepoint(tx, () =>
          tx.query('insert into social.friend_request (id, sender_id, recipient_id, created_at) values ($1, $2, $3, $4::timestamptz)', [
            row.id,
            row.senderId,
            row.recipientId,
            row.createdAt.toISOString(),
          ]),
        );
      } catch (error) {
        if (violatedConstraint(error, 'unique') !== undefined) return { kind: 'duplicate' };
        throw error;
      }
      return { kind: 'done', row };
    });
  }

  async findRequest(id: string): Promise<FriendRequestRow | null> {
    const [found] = await this.#db.query(`select ${REQUEST_COLUMNS} from social.friend_request where id = $1`, [id]);
    return found ? toRequestRow(found) : null;
  }

  async findRequestBetween(senderId: string, recipientId: string): Promise<FriendRequestRow | null> {
    const [found] = await this.#db.query(`select ${REQUEST_COLUMNS} from social.friend_request where sender_id = $1 and recipient_id = $2`, [
      senderId,
      recipientId,
    ]);
    return found ? toRequestRow(found) : null;
  }

  async listRequests(query: ListFriendRequestsQuery): Promise<FriendRequestRow[]> {
    const side = query.direction === 'incoming' ? 'recipient_id = $1' : 'sender_id = $1';
    return (await page(this.#db, 'social.friend_request', REQUEST_COLUMNS, [side], [query.accountId], query)).map(toRequestRow);
  }

  async deleteRequest(id: string): Promise<boolean> {
    return (await this.#db.query('delete from social.friend_request where id = $1 returning 1 as deleted', [id])).length > 0;
  }

  /**
   * Turns the pending request from `friendId` to `accountId` into a friendship (both sides,
   * `ids` naming the two rows); a request the other way, if any, goes too.
   */
  async accept(accountId: string, friendId: string, ids: [string, string], now: Date, uow?: UnitOfWork): Promise<AcceptOutcome> {
    return joinOrBegin(this.#db, uow, async (tx) => {
      await lockPair(tx, accountId, friendId);
      const [existing] = await tx.query(`select ${FRIENDSHIP_COLUMNS} from social.friendship where account_id = $1 and friend_id = $2`, [accountId, friendId]);
      if (existing) return { kind: 'already', row: toFriendshipRow(existing) };
      const accepted = await tx.query('delete from social.friend_request where sender_id = $1 and recipient_id = $2 returning 1 as deleted', [friendId, accountId]);
      if (accepted.length === 0) return { kind: 'no-request' };
      await tx.query('delete from social.friend_request where sender_id = $1 and recipient_id = $2', [accountId, friendId]);
      const mine = { id: ids[0], accountId, friendId, createdAt: now };
      await tx.query(
        'insert into social.friendship (id, account_id, friend_id, created_at) values ($1, $3, $4, $5::timestamptz), ($2, $4, $3, $5::timestamptz)',
        [ids[0], ids[1], accountId, friendId, now.toISOString()],
      );
      return { kind: 'done', row: mine };
    });
  }

  async findFriendship(accountId: string, friendId: string): Promise<FriendshipRow | null> {
    const [found] = await this.#db.query(`select ${FRIENDSHIP_COLUMNS} from social.friendship where account_id = $1 and friend_id = $2`, [accountId, friendId]);
    return found ? toFriendshipRow(found) : null;
  }

  async listFriends(query: ListFriendsQuery): Promise<FriendshipRow[]> {
    return (await page(this.#db, 'social.friendship', FRIENDSHIP_COLUMNS, ['account_id = $1'], [query.accountId], query)).map(toFriendshipRow);
  }

  async friendIds(accountId: string): Promise<string[]> {
    const rows = await this.#db.query('select friend_id from social.friendship where account_id = $1', [accountId]);
    return rows.map((r) => r.friend_id as string);
  }

  /** Ends a friendship on both sides; false when there was none. */
  async deleteFriendship(accountId: string, friendId: string): Promise<boolean> {
    const deleted = await this.#db.query(
      `delete from social.friendship
        where (account_id = $1 and friend_id = $2) or (account_id = $2 and friend_id = $1)
       returning 1 as deleted`,
      [accountId, friendId],
    );
    return deleted.length > 0;
  }

  /** Removes every request and friendship an account is part of. */
  async deleteAccountGraph(accountId: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('delete from social.friend_request where sender_id = $1 or recipient_id = $1', [accountId]);
      await tx.query('delete from social.friendship where account_id = $1 or friend_id = $1', [accountId]);
    });
  }
}
