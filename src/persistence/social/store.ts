// Reads and writes the `social` schema. Requests and friendships between the same two accounts
// are changed under a transaction-scoped advisory lock on the pair, so that two people asking
// each other at the same moment, or accepting twice, cannot leave the graph half-made.
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { queryRows, storeEm, type Orm } from '../db.ts';
import { FriendRequestEntity, FriendshipEntity } from './entities.ts';

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

function toRequestRow(e: FriendRequestRow): FriendRequestRow {
  return { id: e.id, senderId: e.senderId, recipientId: e.recipientId, createdAt: e.createdAt };
}

function toFriendshipRow(e: FriendshipRow): FriendshipRow {
  return { id: e.id, accountId: e.accountId, friendId: e.friendId, createdAt: e.createdAt };
}

function keyset(query: KeysetQuery): Record<string, unknown> {
  return query.afterId ? { id: query.newestFirst ? { $lt: query.afterId } : { $gt: query.afterId } } : {};
}

/** Serialises changes between two accounts, whichever way round they are named. */
async function lockPair(em: EntityManager, a: string, b: string): Promise<void> {
  const key = a < b ? `${a}:${b}` : `${b}:${a}`;
  await em.getConnection().execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [key], 'all', em.getTransactionContext());
}

export class SocialStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  #em(): EntityManager {
    return storeEm(this.#orm);
  }

  /** Inserts a request unless they are friends or a request between them is already pending. */
  async insertRequest(row: FriendRequestRow): Promise<NewRequestOutcome> {
    return this.#em().transactional(async (em) => {
      await lockPair(em, row.senderId, row.recipientId);
      if ((await em.count(FriendshipEntity, { accountId: row.senderId, friendId: row.recipientId })) > 0) return { kind: 'friends' };
      const reverse = await em.count(FriendRequestEntity, { senderId: row.recipientId, recipientId: row.senderId });
      if (reverse > 0) return { kind: 'reverse-pending' };
      try {
        // In a savepoint, so a duplicate does not abort the enclosing transaction.
        await em.transactional((inner) => inner.insert(FriendRequestEntity, row));
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) return { kind: 'duplicate' };
        throw error;
      }
      return { kind: 'done', row };
    });
  }

  async findRequest(id: string): Promise<FriendRequestRow | null> {
    const found = await this.#em().findOne(FriendRequestEntity, { id });
    return found ? toRequestRow(found) : null;
  }

  async findRequestBetween(senderId: string, recipientId: string): Promise<FriendRequestRow | null> {
    const found = await this.#em().findOne(FriendRequestEntity, { senderId, recipientId });
    return found ? toRequestRow(found) : null;
  }

  async listRequests(query: ListFriendRequestsQuery): Promise<FriendRequestRow[]> {
    const side = query.direction === 'incoming' ? { recipientId: query.accountId } : { senderId: query.accountId };
    const rows = await this.#em().find(FriendRequestEntity, { ...side, ...keyset(query) }, {
      orderBy: { id: query.newestFirst ? 'desc' : 'asc' },
      limit: query.limit,
      offset: query.offset,
    });
    return rows.map(toRequestRow);
  }

  async deleteRequest(id: string): Promise<boolean> {
    return (await this.#em().nativeDelete(FriendRequestEntity, { id })) > 0;
  }

  /**
   * Turns the pending request from `friendId` to `accountId` into a friendship (both sides,
   * `ids` naming the two rows); a request the other way, if any, goes too.
   */
  async accept(accountId: string, friendId: string, ids: [string, string], now: Date): Promise<AcceptOutcome> {
    return this.#em().transactional(async (em) => {
      await lockPair(em, accountId, friendId);
      const existing = await em.findOne(FriendshipEntity, { accountId, friendId });
      if (existing) return { kind: 'already', row: toFriendshipRow(existing) };
      const accepted = await em.nativeDelete(FriendRequestEntity, { senderId: friendId, recipientId: accountId });
      if (accepted === 0) return { kind: 'no-request' };
      await em.nativeDelete(FriendRequestEntity, { senderId: accountId, recipientId: friendId });
      const mine = { id: ids[0], accountId, friendId, createdAt: now };
      await em.insertMany(FriendshipEntity, [mine, { id: ids[1], accountId: friendId, friendId: accountId, createdAt: now }]);
      return { kind: 'done', row: mine };
    });
  }

  async findFriendship(accountId: string, friendId: string): Promise<FriendshipRow | null> {
    const found = await this.#em().findOne(FriendshipEntity, { accountId, friendId });
    return found ? toFriendshipRow(found) : null;
  }

  async listFriends(query: ListFriendsQuery): Promise<FriendshipRow[]> {
    const rows = await this.#em().find(FriendshipEntity, { accountId: query.accountId, ...keyset(query) }, {
      orderBy: { id: query.newestFirst ? 'desc' : 'asc' },
      limit: query.limit,
      offset: query.offset,
    });
    return rows.map(toFriendshipRow);
  }

  async friendIds(accountId: string): Promise<string[]> {
    const rows = await queryRows(this.#orm, 'select friend_id from social.friendship where account_id = ?', [accountId]);
    return rows.map((r) => r.friend_id as string);
  }

  /** Ends a friendship on both sides; false when there was none. */
  async deleteFriendship(accountId: string, friendId: string): Promise<boolean> {
    const deleted = await this.#em().nativeDelete(FriendshipEntity, {
      $or: [
        { accountId, friendId },
        { accountId: friendId, friendId: accountId },
      ],
    });
    return deleted > 0;
  }

  /** Removes every request and friendship an account is part of. */
  async deleteAccountGraph(accountId: string): Promise<void> {
    await this.#em().transactional(async (em) => {
      await em.nativeDelete(FriendRequestEntity, { $or: [{ senderId: accountId }, { recipientId: accountId }] });
      await em.nativeDelete(FriendshipEntity, { $or: [{ accountId }, { friendId: accountId }] });
    });
  }
}
