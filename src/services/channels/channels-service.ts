// Channels and their memberships. Who may see what is decided here, for this domain's own
// operations and for the posts domain's channel posts (`access`): a private channel is
// NotFound for everybody but its members, so its existence never leaks.
import { newId } from '../ids.ts';
import type { ChannelRow, ChannelsStore, MembershipRow } from '../../persistence/channels/index.ts';
import type { AccountsService, Caller } from '../accounts/index.ts';
import { InvalidatedCache, noCaching, stringBytes, type Caching, type InvalidationSource } from '../cache.ts';
import { Conflict, Forbidden, NotFound, PreconditionFailed } from '../errors.ts';
import { publishing, type DomainEvents } from '../events.ts';
import { pageStart, toPage, type Page } from '../pagination.ts';
import type { Channel, ChannelAccess, ChannelPatch, ChannelsSettings, ListRequest, Member, NewChannel } from './model.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

/**
 * The channels domain's service interface: what the handlers and the posts and notifications
 * domains use. It is served in process (ChannelsDirectory, below) or, with CHANNELS_SERVICE_URL,
 * by a stub that calls a domain server (src/remote/channels.ts); the internal contract
 * (internal/channels.openapi.yaml) is checked against it at compile time, in both directions.
 */
export interface ChannelsService {
  create(caller: Caller, input: NewChannel, unitOfWork?: UnitOfWork): Promise<Channel>;
  access(caller: Caller | null, channelId: string): Promise<ChannelAccess>;
  get(caller: Caller | null, channelId: string): Promise<Channel>;
  listPublic(request: ListRequest): Promise<Page<Channel>>;
  update(caller: Caller, channelId: string, expectedVersion: number | undefined, patch: ChannelPatch): Promise<Channel>;
  delete(caller: Caller, channelId: string, expectedVersion: number | undefined): Promise<void>;
  permissions(caller: Caller | null, channelId: string): Promise<{ update: boolean; delete: boolean }>;
  listMembers(caller: Caller | null, channelId: string, request: ListRequest): Promise<Page<Member>>;
  getMember(caller: Caller | null, channelId: string, accountId: string): Promise<Member>;
  addMember(caller: Caller, channelId: string, accountId: string): Promise<{ member: Member; created: boolean }>;
  removeMember(caller: Caller, channelId: string, accountId: string): Promise<void>;
  memberPermissions(caller: Caller | null, channelId: string, accountId: string): Promise<{ put: boolean; delete: boolean }>;
  memberIds(channelId: string, limit: number): Promise<string[]>;
  whoCanSee(channelId: string, accountIds: readonly string[]): Promise<Set<string>>;
  forgetAccount(accountId: string): Promise<void>;
}

/**
 * What a kept channel weighs in memory, estimated from above: 700 bytes for the row (its ids,
 * dates and object; measured: 480 with a short name, up to 640 with long ones) and its name and description
 * (`stringBytes`; a description runs to 1,000 characters, so a count alone would let 50,000
 * channels hold over 100 MiB).
 */
export function keptChannelBytes(channel: ChannelRow): number {
  return 700 + stringBytes(channel.name) + stringBytes(channel.description);
}

export class ChannelsDirectory implements ChannelsService {
  readonly #store: ChannelsStore;
  readonly #accounts: AccountsService;
  readonly #events: DomainEvents | undefined;
  readonly #settings: ChannelsSettings;
  readonly #now: () => Date;
  /**
   * Channels as anonymous callers see them (a public channel's page is public traffic): evicted
   * on every instance when a channel changes or goes (see ../cache.ts). Signed-in callers are
   * asked about at every request, with their membership.
   */
  readonly #channels: InvalidatedCache<ChannelRow>;
  readonly #invalidations: InvalidationSource;

  constructor(
    store: ChannelsStore,
    accounts: AccountsService,
    settings: ChannelsSettings,
    events?: DomainEvents,
    now: () => Date = () => new Date(),
    caching: Caching = noCaching,
  ) {
    this.#store = store;
    this.#accounts = accounts;
    this.#settings = settings;
    this.#events = events;
    this.#now = now;
    this.#invalidations = caching.source;
    this.#channels = new InvalidatedCache(caching, { name: 'channels', topic: 'c', weightOf: keptChannelBytes, maxWeight: settings.cacheBytes });
  }

  /** Creates a channel owned by the caller, who becomes its first member. */
  async create(caller: Caller, input: NewChannel, unitOfWork?: UnitOfWork): Promise<Channel> {
    const now = this.#now();
    return this.#store.insertChannel(
      {
        id: newId(),
        ownerId: caller.accountId,
        name: input.name.trim(),
        description: input.description ?? '',
        visibility: input.visibility,
        createdAt: now,
        updatedAt: now,
      },
      newId(),
      unitOfWork,
    );
  }

  /**
   * The channel as `caller` may see it, with what it may do there; NotFound when the channel
   * does not exist or is private and the caller is not a member. One query, none for an
   * anonymous caller when the channel is cached.
   */
  async access(caller: Caller | null, channelId: string): Promise<ChannelAccess> {
    if (caller === null) {
      const channel = await this.#anonymousView(channelId);
      if (!channel || channel.visibility === 'private') throw new NotFound('channel');
      return { channel, member: false, owner: false };
    }
    const found = await this.#store.findChannelFor(channelId, caller.accountId);
    if (!found || (found.channel.visibility === 'private' && !found.member)) throw new NotFound('channel');
    return { channel: found.channel, member: found.member, owner: found.channel.ownerId === caller?.accountId };
  }

  /** The channel, from the cache when it holds it; null when there is no such channel. */
  async #anonymousView(channelId: string): Promise<ChannelRow | null> {
    const cached = this.#channels.get(channelId);
    if (cached) return cached;
    const stamp = this.#channels.stamp();
    const found = await this.#store.findChannelFor(channelId, null);
    if (found) this.#channels.set(channelId, found.channel, stamp);
    return found?.channel ?? null;
  }

  async get(caller: Caller | null, channelId: string): Promise<Channel> {
    return (await this.access(caller, channelId)).channel;
  }

  async listPublic(request: ListRequest): Promise<Page<Channel>> {
    const filters = { visibility: 'public', newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage);
    const rows = await this.#store.listPublic({ limit: request.limit + 1, newestFirst: request.newestFirst, ...start });
    return toPage(rows, request.limit, filters);
  }

  /** Changes the caller's own channel if `expectedVersion` is current (any version when undefined). */
  async update(caller: Caller, channelId: string, expectedVersion: number | undefined, patch: ChannelPatch): Promise<Channel> {
    const { channel } = await this.#ownerAccess(caller, channelId, 'only the owner may change a channel');
    const changes: ChannelPatch = {};
    if (patch.name !== undefined) changes.name = patch.name.trim();
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.visibility !== undefined) changes.visibility = patch.visibility;
    if (Object.keys(changes).length === 0) {
      // An empty merge patch changes nothing, but the precondition still holds.
      if (expectedVersion !== undefined && channel.version !== expectedVersion) throw new PreconditionFailed(channel.version);
      return channel;
    }
    const outcome = await this.#store.updateChannel(channelId, expectedVersion, changes, this.#now());
    this.#channels.evict([channelId]);
    if (outcome.kind === 'not-found') throw new NotFound('channel');
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    // Answer once this instance has applied the trigger's notification, as a sign-out does; the
    // other instances hide a channel made private within the staleness bound.
    await this.#invalidations.sync();
    return outcome.row;
  }

  /** Deletes the caller's own channel; its memberships go with it and its posts are removed. */
  async delete(caller: Caller, channelId: string, expectedVersion: number | undefined): Promise<void> {
    await this.#ownerAccess(caller, channelId, 'only the owner may delete a channel');
    // The deletion and its clean-ups' jobs commit together; the clean-ups are also done now.
    const outcome = await publishing(
      this.#events,
      'channels.deleted',
      (uow) => this.#store.deleteChannel(channelId, expectedVersion, uow),
      (outcome) => (outcome.kind === 'done' ? { channelIds: [channelId] } : null),
      (work) => this.#store.unitOfWork(work),
    );
    this.#channels.evict([channelId]);
    if (outcome.kind === 'not-found') throw new NotFound('channel');
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    await this.#invalidations.sync();
    await this.#events?.emit('channels.deleted', { channelIds: [channelId] });
  }

  async permissions(caller: Caller | null, channelId: string): Promise<{ update: boolean; delete: boolean }> {
    const { owner } = await this.access(caller, channelId);
    return { update: owner, delete: owner };
  }

  async listMembers(caller: Caller | null, channelId: string, request: ListRequest): Promise<Page<Member>> {
    const filters = { channelId, newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage);
    const { channel } = await this.access(caller, channelId);
    const rows = await this.#store.listMembers({ channelId, limit: request.limit + 1, newestFirst: request.newestFirst, ...start });
    const page = toPage(rows, request.limit, filters);
    return { items: await this.#asMembers(channel, page.items), nextCursor: page.nextCursor };
  }

  async getMember(caller: Caller | null, channelId: string, accountId: string): Promise<Member> {
    const { channel } = await this.access(caller, channelId);
    const row = await this.#store.findMembership(channelId, accountId);
    const [member] = row ? await this.#asMembers(channel, [row]) : [];
    if (!member) throw new NotFound('member');
    return member;
  }

  /**
   * Makes `accountId` a member: the caller joining a public channel, or the owner adding anyone.
   * Idempotent: `created` is false when it already was a member.
   */
  async addMember(caller: Caller, channelId: string, accountId: string): Promise<{ member: Member; created: boolean }> {
    const access = await this.access(caller, channelId);
    const self = caller.accountId === accountId;
    if (!access.owner && !(self && (access.channel.visibility === 'public' || access.member))) {
      throw new Forbidden(self ? 'only the owner adds members to a private channel' : 'only the owner may add other accounts');
    }
    const account = (await this.#accounts.summaries([accountId])).get(accountId);
    if (!account) throw new NotFound('account');
    const outcome = await this.#store.insertMembership({ id: newId(), channelId, accountId, createdAt: this.#now() });
    if (outcome.kind === 'no-channel') throw new NotFound('channel');
    const role = accountId === access.channel.ownerId ? 'owner' : 'member';
    return { member: { account, role, joinedAt: outcome.row.createdAt }, created: outcome.kind === 'done' };
  }

  /** The caller leaves, or the owner removes a member. The owner itself cannot leave. */
  async removeMember(caller: Caller, channelId: string, accountId: string): Promise<void> {
    const access = await this.access(caller, channelId);
    if (!access.owner && caller.accountId !== accountId) throw new Forbidden('only the owner may remove other members');
    if (accountId === access.channel.ownerId) throw new Conflict('the owner cannot leave its channel; delete the channel instead');
    if (!(await this.#store.deleteMembership(channelId, accountId))) throw new NotFound('member');
  }

  async memberPermissions(caller: Caller | null, channelId: string, accountId: string): Promise<{ put: boolean; delete: boolean }> {
    const access = await this.access(caller, channelId);
    const self = caller !== null && caller.accountId === accountId;
    const put = access.owner || (self && (access.channel.visibility === 'public' || access.member));
    if (!(access.owner || self) || accountId === access.channel.ownerId) return { put, delete: false };
    return { put, delete: (await this.#store.findMembership(channelId, accountId)) !== null };
  }

  /**
   * The ids of a channel's members, at most `limit` (the first to join), for telling them about
   * something in it; none when there is no such channel.
   */
  async memberIds(channelId: string, limit: number): Promise<string[]> {
    return this.#store.memberIds(channelId, limit);
  }

  /**
   * Which of `accountIds` can see the channel and what is in it: all of them for a public
   * channel, its members for a private one, nobody when there is no such channel. One query for
   * the channel and one for the members of a private one.
   */
  async whoCanSee(channelId: string, accountIds: readonly string[]): Promise<Set<string>> {
    if (accountIds.length === 0) return new Set();
    const found = await this.#store.findChannelFor(channelId, null);
    if (!found) return new Set();
    if (found.channel.visibility === 'public') return new Set(accountIds);
    return new Set(await this.#store.membersAmong(channelId, accountIds));
  }

  /** Deletes a closed account's channels (their posts go through `channels.deleted`) and memberships. */
  async forgetAccount(accountId: string): Promise<void> {
    // Itself a clean-up (of account.closed), run again by its job: the second run deletes nothing.
    const deleted = await publishing(
      this.#events,
      'channels.deleted',
      (uow) => this.#store.deleteAccountChannels(accountId, uow),
      (ids) => (ids.length > 0 ? { channelIds: ids } : null),
      (work) => this.#store.unitOfWork(work),
    );
    this.#channels.evict(deleted);
    if (deleted.length > 0) await this.#invalidations.sync();
    if (deleted.length > 0) await this.#events?.emit('channels.deleted', { channelIds: deleted });
  }

  async #ownerAccess(caller: Caller, channelId: string, message: string): Promise<ChannelAccess> {
    const access = await this.access(caller, channelId);
    if (!access.owner) throw new Forbidden(message);
    return access;
  }

  async #asMembers(channel: ChannelRow, rows: MembershipRow[]): Promise<Member[]> {
    const people = await this.#accounts.summaries(rows.map((r) => r.accountId));
    return rows.flatMap((r) => {
      const account = people.get(r.accountId);
      if (!account) return [];
      return [{ account, role: r.accountId === channel.ownerId ? ('owner' as const) : ('member' as const), joinedAt: r.createdAt }];
    });
  }
}
