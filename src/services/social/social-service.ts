// Friend requests and friendships. Accounts belong to the accounts domain: this service asks it
// whether an account exists and for the summaries it embeds, one batch per page, and drops
// whatever involves an account that is gone (closing an account also removes its graph, through
// `forgetAccount`, but a page must not depend on that having finished).
import { newId } from '../ids.ts';
import type { FriendRequestRow, FriendshipRow, SocialStore } from '../../persistence/social/index.ts';
import type { AccountSummary, AccountsService, Caller } from '../accounts/index.ts';
import { Conflict, Forbidden, InvalidInput, NotFound } from '../errors.ts';
import type { DomainEvents } from '../events.ts';
import { pageStart, toPage, type Page } from '../pagination.ts';
import type { Friend, FriendRequest, ListFriendRequestsRequest, ListRequest, SocialSettings } from './model.ts';
import { whenCommitted, type UnitOfWork } from '../unit-of-work.ts';
import { InvalidatedCache, noCaching, type Caching } from '../cache.ts';

/**
 * The social graph's service interface: what other domains and the handlers use. It is served
 * in process (SocialGraphService, below) or, with SOCIAL_SERVICE_URL, by a stub that calls a
 * domain server (src/remote/social.ts); the internal contract (internal/social.openapi.yaml) is
 * checked against it at compile time, in both directions.
 */
export interface SocialService {
  sendRequest(caller: Caller, recipientId: string, unitOfWork?: UnitOfWork): Promise<FriendRequest>;
  getRequest(caller: Caller, requestId: string): Promise<FriendRequest>;
  listRequests(caller: Caller, request: ListFriendRequestsRequest): Promise<Page<FriendRequest>>;
  withdrawRequest(caller: Caller, requestId: string): Promise<void>;
  acceptRequest(caller: Caller, accountId: string, friendId: string, unitOfWork?: UnitOfWork): Promise<{ friend: Friend; created: boolean }>;
  getFriend(accountId: string, friendId: string): Promise<Friend>;
  listFriends(accountId: string, request: ListRequest): Promise<Page<Friend>>;
  unfriend(caller: Caller, accountId: string, friendId: string): Promise<void>;
  friendIdsOf(accountId: string): Promise<string[]>;
  friendPermissions(caller: Caller | null, accountId: string, friendId: string): Promise<{ accept: boolean; delete: boolean }>;
  forgetAccount(accountId: string): Promise<void>;
}

export class SocialGraphService implements SocialService {
  readonly #store: SocialStore;
  readonly #accounts: AccountsService;
  readonly #settings: SocialSettings;
  readonly #now: () => Date;
  readonly #events: DomainEvents | undefined;
  /**
   * Whether two accounts are friends (the friendship's row, or null), by "<account> <friend>":
   * asked before every message sent in a conversation of two. PostgreSQL announces the pairs whose
   * friendship began or ended ("fr:", Migration20261205110000); this instance's own changes evict
   * at once, once committed.
   */
  readonly #friendships: InvalidatedCache<FriendshipRow | null>;

  constructor(
    store: SocialStore,
    accounts: AccountsService,
    settings: SocialSettings,
    now: () => Date = () => new Date(),
    events?: DomainEvents,
    caching: Caching = noCaching,
  ) {
    this.#store = store;
    this.#accounts = accounts;
    this.#settings = settings;
    this.#now = now;
    this.#events = events;
    this.#friendships = new InvalidatedCache(caching, { name: 'friendships', topic: 'fr', maxEntries: settings.friendshipCacheEntries ?? 0 });
  }

  /** Asks `recipientId` to become the caller's friend. */
  async sendRequest(caller: Caller, recipientId: string, unitOfWork?: UnitOfWork): Promise<FriendRequest> {
    if (recipientId === caller.accountId) {
      throw new InvalidInput([{ field: 'accountId', detail: 'cannot be yourself' }]);
    }
    const people = await this.#accounts.summaries([caller.accountId, recipientId]);
    const recipient = people.get(recipientId);
    const sender = people.get(caller.accountId);
    if (!recipient || !sender) throw new NotFound('account');
    // The request and its event's jobs commit together: with the caller's unit of work when given.
    const outcome = await this.#store.unitOfWork(unitOfWork, async (uow) => {
      const inserted = await this.#store.insertRequest({ id: newId(), senderId: sender.id, recipientId, createdAt: this.#now() }, uow);
      if (inserted.kind === 'done') {
        await this.#events?.publish('friendRequest.created', { requestId: inserted.row.id, senderId: sender.id, recipientId }, uow);
      }
      return inserted;
    });
    switch (outcome.kind) {
      case 'friends':
        throw new Conflict('you already are friends', 'accountId');
      case 'duplicate':
        throw new Conflict('you already asked this account; wait for an answer', 'accountId');
      case 'reverse-pending':
        throw new Conflict(
          `this account already asked you: accept with PUT /v1/accounts/${caller.accountId}/friends/${recipientId}`,
          'accountId',
        );
    }
    return { id: outcome.row.id, sender, recipient, createdAt: outcome.row.createdAt };
  }

  /** A request, for its sender or its recipient only: to anybody else it does not exist. */
  async getRequest(caller: Caller, requestId: string): Promise<FriendRequest> {
    const row = await this.#visibleRequest(caller, requestId);
    const [request] = await this.#withPeople([row]);
    if (!request) throw new NotFound('friend request');
    return request;
  }

  async listRequests(caller: Caller, request: ListFriendRequestsRequest): Promise<Page<FriendRequest>> {
    const filters = { direction: request.direction, newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage);
    const rows = await this.#store.listRequests({
      accountId: caller.accountId,
      direction: request.direction,
      limit: request.limit + 1,
      newestFirst: request.newestFirst,
      ...start,
    });
    const page = toPage(rows, request.limit, filters);
    return { items: await this.#withPeople(page.items), nextCursor: page.nextCursor };
  }

  /** Its sender cancels a request, its recipient declines it. */
  async withdrawRequest(caller: Caller, requestId: string): Promise<void> {
    await this.#visibleRequest(caller, requestId);
    if (!(await this.#store.deleteRequest(requestId))) throw new NotFound('friend request');
  }

  /**
   * Accepts the request `friendId` sent to `accountId` (the caller). Idempotent: `created` is
   * false when they already were friends.
   */
  async acceptRequest(caller: Caller, accountId: string, friendId: string, unitOfWork?: UnitOfWork): Promise<{ friend: Friend; created: boolean }> {
    await this.#assertSelf(caller, accountId, 'only the account itself may accept its friend requests');
    if (friendId === accountId) throw new InvalidInput([{ field: 'friendId', detail: 'cannot be yourself' }]);
    const friend = (await this.#accounts.summaries([friendId])).get(friendId);
    if (!friend) throw new NotFound('account');
    // The friendship and its event's jobs commit together.
    const outcome = await this.#store.unitOfWork(unitOfWork, async (uow) => {
      const accepted = await this.#store.accept(accountId, friendId, [newId(), newId()], this.#now(), uow);
      if (accepted.kind === 'done') await this.#events?.publish('friendRequest.accepted', { friendshipId: accepted.row.id, accountId, friendId }, uow);
      return accepted;
    });
    if (outcome.kind === 'no-request') {
      throw new Conflict('this account has not asked you to be friends; send a request with POST /v1/friend-requests');
    }
    if (outcome.kind === 'done') {
      await whenCommitted(unitOfWork, () => {
        this.#forgetPair(accountId, friendId);
        return this.#events?.emit('friendships.changed', { accountIds: [accountId, friendId] });
      });
    }
    return { friend: { account: friend, since: outcome.row.createdAt }, created: outcome.kind === 'done' };
  }

  async getFriend(accountId: string, friendId: string): Promise<Friend> {
    const row = await this.#friendship(accountId, friendId);
    if (!row) {
      await this.#accounts.assertExists(accountId);
      throw new NotFound('friendship');
    }
    const people = await this.#accounts.summaries([accountId, friendId]);
    const friend = people.get(friendId);
    if (!friend || !people.has(accountId)) throw new NotFound('friendship');
    return { account: friend, since: row.createdAt };
  }

  async listFriends(accountId: string, request: ListRequest): Promise<Page<Friend>> {
    const filters = { accountId, newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage);
    await this.#accounts.assertExists(accountId);
    const rows = await this.#store.listFriends({ accountId, limit: request.limit + 1, newestFirst: request.newestFirst, ...start });
    const page = toPage(rows, request.limit, filters);
    return { items: await this.#asFriends(page.items), nextCursor: page.nextCursor };
  }

  /** Ends a friendship; only `accountId` itself may. */
  async unfriend(caller: Caller, accountId: string, friendId: string): Promise<void> {
    await this.#assertSelf(caller, accountId, 'only the account itself may end its friendships');
    const deleted = await this.#store.deleteFriendship(accountId, friendId);
    this.#forgetPair(accountId, friendId);
    if (!deleted) throw new NotFound('friendship');
    await this.#events?.emit('friendships.changed', { accountIds: [accountId, friendId] });
  }

  /** The ids of an account's friends, in one query (for feeds). */
  async friendIdsOf(accountId: string): Promise<string[]> {
    return this.#store.friendIds(accountId);
  }

  /** What `caller` may do with the friendship of `accountId` and `friendId`. */
  async friendPermissions(caller: Caller | null, accountId: string, friendId: string): Promise<{ accept: boolean; delete: boolean }> {
    await this.#accounts.assertExists(accountId);
    if (caller?.accountId !== accountId) return { accept: false, delete: false };
    const friends = (await this.#friendship(accountId, friendId)) !== null;
    if (friends) return { accept: true, delete: true };
    return { accept: (await this.#store.findRequestBetween(friendId, accountId)) !== null, delete: false };
  }

  /** Removes every request and friendship of a closed account. */
  async forgetAccount(accountId: string): Promise<void> {
    await this.#store.deleteAccountGraph(accountId);
    // Its pairs are not indexed by account: closing an account is rare enough to forget them all.
    this.#friendships.clear();
  }

  /** The friendship of `accountId` with `friendId` (its row), or null: kept in memory (see `#friendships`). */
  async #friendship(accountId: string, friendId: string): Promise<FriendshipRow | null> {
    const key = `${accountId} ${friendId}`;
    const kept = this.#friendships.get(key);
    if (kept !== undefined) return kept;
    const stamp = this.#friendships.stamp();
    const row = await this.#store.findFriendship(accountId, friendId);
    this.#friendships.set(key, row, stamp);
    return row;
  }

  /** This instance changed the friendship of two accounts: what it kept of it, both ways, goes now. */
  #forgetPair(accountId: string, friendId: string): void {
    this.#friendships.evict([`${accountId} ${friendId}`, `${friendId} ${accountId}`]);
  }

  async #visibleRequest(caller: Caller, requestId: string): Promise<FriendRequestRow> {
    const row = await this.#store.findRequest(requestId);
    if (!row || (row.senderId !== caller.accountId && row.recipientId !== caller.accountId)) throw new NotFound('friend request');
    return row;
  }

  async #assertSelf(caller: Caller, accountId: string, message: string): Promise<void> {
    if (caller.accountId === accountId) return;
    // Friendships are public, so a stranger learns nothing from 403 that GET would not tell.
    await this.#accounts.assertExists(accountId);
    throw new Forbidden(message);
  }

  async #withPeople(rows: FriendRequestRow[]): Promise<FriendRequest[]> {
    const people = await this.#accounts.summaries(rows.flatMap((r) => [r.senderId, r.recipientId]));
    return rows.flatMap((r) => {
      const sender = people.get(r.senderId);
      const recipient = people.get(r.recipientId);
      return sender && recipient ? [{ id: r.id, sender, recipient, createdAt: r.createdAt }] : [];
    });
  }

  async #asFriends(rows: FriendshipRow[]): Promise<Friend[]> {
    const people: Map<string, AccountSummary> = await this.#accounts.summaries(rows.map((r) => r.friendId));
    return rows.flatMap((r) => {
      const account = people.get(r.friendId);
      return account ? [{ account, since: r.createdAt }] : [];
    });
  }
}
