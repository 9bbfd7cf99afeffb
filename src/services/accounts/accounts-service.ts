// Sign-up, profiles and closing accounts.
import { newId } from '../ids.ts';
import type { AccountsStore } from '../../persistence/accounts/index.ts';
import { InvalidatedCache, noCaching, type Caching } from '../cache.ts';
import { Conflict, Forbidden, NotFound, PreconditionFailed } from '../errors.ts';
import { publishing, type DomainEvents } from '../events.ts';
import { pageStart, toPage, type Page } from '../pagination.ts';
import type { Account, AccountSummary, AccountsSettings, Caller, ListAccountsRequest, NewAccount, ProfilePatch } from './model.ts';
import { hashPassword } from './passwords.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

/**
 * The accounts' service interface: what the handlers and the other domains use. It is served in
 * process (AccountsDirectory, below) or, with ACCOUNTS_SERVICE_URL, by a stub that calls a domain
 * server (src/remote/accounts.ts); the internal contract (internal/accounts.openapi.yaml) is
 * checked against it at compile time, in both directions.
 */
export interface AccountsService {
  signUp(input: NewAccount, unitOfWork?: UnitOfWork): Promise<Account>;
  get(accountId: string): Promise<Account>;
  summaries(accountIds: Iterable<string>): Promise<Map<string, AccountSummary>>;
  idsByHandles(handles: Iterable<string>): Promise<Map<string, string>>;
  assertExists(accountId: string): Promise<void>;
  list(request: ListAccountsRequest): Promise<Page<Account>>;
  updateProfile(caller: Caller, accountId: string, expectedVersion: number | undefined, patch: ProfilePatch): Promise<Account>;
  close(caller: Caller, accountId: string, expectedVersion: number | undefined): Promise<void>;
  permissions(caller: Caller | null, accountId: string): Promise<{ update: boolean; delete: boolean }>;
}

export class AccountsDirectory implements AccountsService {
  readonly #store: AccountsStore;
  readonly #settings: AccountsSettings;
  readonly #events: DomainEvents | undefined;
  readonly #now: () => Date;
  /** What other domains embed of an account; evicted on every instance when it changes or goes. */
  readonly #summaries: InvalidatedCache<AccountSummary>;

  constructor(
    store: AccountsStore,
    settings: AccountsSettings,
    events?: DomainEvents,
    now: () => Date = () => new Date(),
    caching: Caching = noCaching,
  ) {
    this.#store = store;
    this.#settings = settings;
    this.#events = events;
    this.#now = now;
    this.#summaries = new InvalidatedCache(caching, { name: 'account_summaries', topic: 'a' });
  }

  /** `unitOfWork`: the keyed request's, which the account is written in. */
  async signUp(input: NewAccount, unitOfWork?: UnitOfWork): Promise<Account> {
    const now = this.#now();
    const result = await this.#store.insertAccount({
      id: newId(),
      email: input.email.trim().toLowerCase(),
      handle: input.handle,
      handleKey: input.handle.toLowerCase(),
      displayName: input.displayName.trim(),
      bio: null,
      passwordHash: await hashPassword(input.password),
      createdAt: now,
      updatedAt: now,
    }, unitOfWork);
    if (result.kind === 'taken') {
      throw new Conflict(
        result.field === 'handle' ? 'that handle is taken' : 'an account with that email already exists',
        result.field,
      );
    }
    return result.row;
  }

  async get(accountId: string): Promise<Account> {
    const account = await this.#store.findAccount(accountId);
    if (!account) throw new NotFound('account');
    return account;
  }

  /**
   * The summaries of those of `accountIds` that exist, keyed by id, in one query: other domains
   * embed authors and friends with it, and drop what belongs to an account that is gone.
   */
  async summaries(accountIds: Iterable<string>): Promise<Map<string, AccountSummary>> {
    const { found, missing } = this.#summaries.getMany(new Set(accountIds));
    if (missing.length === 0) return found;
    const stamp = this.#summaries.stamp();
    for (const r of await this.#store.findSummaries(missing)) {
      const summary = { id: r.id, handle: r.handle, displayName: r.displayName };
      found.set(r.id, summary);
      this.#summaries.set(r.id, summary, stamp);
    }
    return found;
  }

  /**
   * The ids of the accounts with these handles, keyed by lower-case handle (handles are unique
   * regardless of case), in one query; handles of nobody are left out (e.g. for mentions).
   */
  async idsByHandles(handles: Iterable<string>): Promise<Map<string, string>> {
    const keys = [...new Set([...handles].map((h) => h.toLowerCase()))];
    const rows = await this.#store.findIdsByHandleKeys(keys);
    return new Map(rows.map((r) => [r.handleKey, r.id]));
  }

  /** Throws NotFound unless the account exists. */
  async assertExists(accountId: string): Promise<void> {
    if (!(await this.summaries([accountId])).has(accountId)) throw new NotFound('account');
  }

  async list(request: ListAccountsRequest): Promise<Page<Account>> {
    const handleKeyPrefix = request.handlePrefix?.toLowerCase();
    const filters = { handle: handleKeyPrefix, newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage);
    const rows = await this.#store.listAccounts({
      limit: request.limit + 1,
      newestFirst: request.newestFirst,
      handleKeyPrefix,
      ...start,
    });
    return toPage(rows, request.limit, filters);
  }

  /** Changes the caller's own profile if `expectedVersion` is current (any version when undefined). */
  async updateProfile(
    caller: Caller,
    accountId: string,
    expectedVersion: number | undefined,
    patch: ProfilePatch,
  ): Promise<Account> {
    await this.#assertOwner(caller, accountId);
    const changes: ProfilePatch = {};
    if (patch.displayName !== undefined) changes.displayName = patch.displayName.trim();
    if (patch.bio !== undefined) changes.bio = patch.bio === null || patch.bio.trim() === '' ? null : patch.bio;
    if (Object.keys(changes).length === 0) {
      // An empty merge patch changes nothing, but the precondition still holds.
      const current = await this.get(accountId);
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new PreconditionFailed(current.version);
      }
      return current;
    }
    const outcome = await this.#store.updateProfile(accountId, expectedVersion, changes, this.#now());
    this.#summaries.evict([accountId]);
    if (outcome.kind === 'not-found') throw new NotFound('account');
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    return outcome.row;
  }

  /**
   * Closes the caller's own account; its sessions go with it, and `account.closed` tells the
   * other domains to remove what was the account's before this returns (and again in the jobs
   * enqueued with the deletion: see `DomainEvents.cleanUp`).
   */
  async close(caller: Caller, accountId: string, expectedVersion: number | undefined): Promise<void> {
    await this.#assertOwner(caller, accountId);
    // The deletion and its clean-ups' jobs commit together; the clean-ups are also done now.
    const outcome = await publishing(
      this.#events,
      'account.closed',
      (uow) => this.#store.deleteAccount(accountId, expectedVersion, uow),
      (outcome) => (outcome.kind === 'done' ? { accountId } : null),
      (work) => this.#store.unitOfWork(work),
    );
    this.#summaries.evict([accountId]);
    if (outcome.kind === 'not-found') throw new NotFound('account');
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    await this.#events?.emit('account.closed', { accountId });
  }

  /** Which of the owner-only operations `caller` may use on `accountId`. */
  async permissions(caller: Caller | null, accountId: string): Promise<{ update: boolean; delete: boolean }> {
    await this.get(accountId);
    const owner = caller?.accountId === accountId;
    return { update: owner, delete: owner };
  }

  async #assertOwner(caller: Caller, accountId: string): Promise<void> {
    if (caller.accountId === accountId) return;
    // Accounts are public, so a stranger learns nothing from 403 that GET would not tell.
    await this.get(accountId);
    throw new Forbidden('only the owner may change or close an account');
  }
}
