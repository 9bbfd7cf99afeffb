// Notifications: made by consumers of other domains' durable events, read, grouped, marked read
// and dismissed by their recipient. A consumer writes through the job's unit of work, so its
// notifications commit with the job's completion (or not at all), and is idempotent by a source
// key (`post:<id>`…): a notification is unique per recipient and source, so a consumer run twice
// for one cause (a job retried after a crash) notifies once. No consumer tells anybody about their own action,
// or about what they could not otherwise see: a mention in a private channel's post reaches
// its members only, a channel's new post only its members.
import { newId } from '../ids.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import type { GroupRow, NewNotificationRow, NotificationRow, NotificationsStore } from '../../persistence/notifications/index.ts';
import type { AccountSummary, AccountsService, Caller } from '../accounts/index.ts';
import type { ChannelsService } from '../channels/index.ts';
import { InvalidInput, NotFound, PreconditionFailed } from '../errors.ts';
import type { Page } from '../pagination.ts';
import { nextCursor, start } from './cursor.ts';
import { mentionedHandles } from './mentions.ts';
import type {
  FriendRequestAccepted,
  FriendRequestReceived,
  ListNotificationsRequest,
  Marker,
  MessageDeleted,
  MessageSent,
  Notification,
  NotificationGroup,
  NotificationsSettings,
  PostPublished,
} from './model.ts';

/**
 * A channel's new post notifies at most this many members (the first to join). Past it, a
 * channel is a broadcast its members read, not a list to fan out to on every post; the
 * statement stays one bounded insert.
 */
export const CHANNEL_FAN_OUT_LIMIT = 1000;
/** The unread count is counted up to this: clients show "999+", and counting stays cheap. */
export const UNREAD_CAP = 1000;
/** A group shows this many of its latest distinct actors. */
export const GROUP_SAMPLE_ACCOUNTS = 3;
/** How many of a group's latest actors are read to find the distinct sample. */
const GROUP_ACTORS_READ = 40;

/** A row's place in the live stream: its transaction's id, then its seq. */
export type StreamPosition = { txid: bigint; seq: bigint };

type Subject = Pick<NewNotificationRow, 'postId' | 'channelId' | 'conversationId' | 'messageId' | 'friendRequestId'>;
const NO_SUBJECT: Subject = { postId: null, channelId: null, conversationId: null, messageId: null, friendRequestId: null };

/**
 * The notifications domain's service interface: what the handlers, the event consumers and the
 * live stream use. It is served in process (NotificationsInbox, below) or, with
 * NOTIFICATIONS_SERVICE_URL, by a stub that calls a domain server (src/remote/notifications.ts);
 * the internal contract (internal/notifications.openapi.yaml) is checked against it at compile
 * time, in both directions.
 */
export interface NotificationsService {
  onFriendRequestReceived(event: FriendRequestReceived, uow?: UnitOfWork): Promise<void>;
  onFriendRequestAccepted(event: FriendRequestAccepted, uow?: UnitOfWork): Promise<void>;
  onPostPublished(event: PostPublished, uow?: UnitOfWork): Promise<void>;
  onMessageSent(event: MessageSent, uow?: UnitOfWork): Promise<void>;
  /** `onMessageSent` for several messages at once, in this order (one statement). */
  onMessagesSent(events: MessageSent[], uow?: UnitOfWork): Promise<void>;
  forgetAccount(accountId: string): Promise<void>;
  forgetChannels(channelIds: string[]): Promise<void>;
  forgetPosts(postIds: string[]): Promise<void>;
  onMessageDeleted(event: MessageDeleted): Promise<void>;
  list(caller: Caller, request: ListNotificationsRequest): Promise<Page<Notification>>;
  listGroups(caller: Caller, request: ListNotificationsRequest): Promise<Page<NotificationGroup>>;
  marker(caller: Caller): Promise<Marker>;
  moveMarker(caller: Caller, lastReadId: string, expectedVersion: number | undefined): Promise<Marker>;
  dismiss(caller: Caller, notificationId: string): Promise<void>;
  permissions(caller: Caller, notificationId: string): Promise<{ delete: boolean }>;
  /** `data` is undefined for a notification whose actor is gone (the stream passes it over). */
  streamSince(recipientId: string, after: StreamPosition, limit: number): Promise<{ events: { position: StreamPosition; data: Notification | undefined }[]; pending: boolean }>;
  streamTail(recipientId: string): Promise<StreamPosition>;
}

export class NotificationsInbox implements NotificationsService {
  readonly #store: NotificationsStore;
  readonly #accounts: AccountsService;
  readonly #channels: ChannelsService;
  readonly #settings: NotificationsSettings;
  readonly #now: () => Date;

  constructor(
    store: NotificationsStore,
    others: { accounts: AccountsService; channels: ChannelsService },
    settings: NotificationsSettings,
    now: () => Date = () => new Date(),
  ) {
    this.#store = store;
    this.#accounts = others.accounts;
    this.#channels = others.channels;
    this.#settings = settings;
    this.#now = now;
  }

  /* ------------------------------------------------------------------ consumers */

  /** The recipient of a friend request hears of it. */
  async onFriendRequestReceived(event: FriendRequestReceived, uow?: UnitOfWork): Promise<void> {
    await this.#store.insert([
      {
        id: newId(),
        recipientId: event.recipientId,
        type: 'friendRequestReceived',
        actorId: event.senderId,
        ...NO_SUBJECT,
        friendRequestId: event.requestId,
        groupKey: `friendRequestReceived:${event.requestId}`,
        sourceKey: `friendRequest:${event.requestId}`,
        createdAt: this.#now(),
      },
    ], uow);
  }

  /** Who asked hears that the request was accepted. */
  async onFriendRequestAccepted(event: FriendRequestAccepted, uow?: UnitOfWork): Promise<void> {
    await this.#store.insert([
      {
        id: newId(),
        recipientId: event.friendId,
        type: 'friendRequestAccepted',
        actorId: event.accountId,
        ...NO_SUBJECT,
        groupKey: `friendRequestAccepted:${event.friendshipId}`,
        sourceKey: `friendship:${event.friendshipId}`,
        createdAt: this.#now(),
      },
    ], uow);
  }

  /**
   * The mentioned accounts that can see the post hear of the mention; the members of the
   * post's channel (up to CHANNEL_FAN_OUT_LIMIT), of the new post. Both use the source key
   * `post:<id>`, mentions first: a member who is mentioned gets the mention, not both.
   */
  async onPostPublished(event: PostPublished, uow?: UnitOfWork): Promise<void> {
    const createdAt = new Date(event.createdAt);
    const post = { ...NO_SUBJECT, postId: event.postId, channelId: event.channelId };
    const sourceKey = `post:${event.postId}`;
    const handles = mentionedHandles(event.text);
    if (handles.length > 0) {
      const mentioned = [...(await this.#accounts.idsByHandles(handles)).values()].filter((id) => id !== event.authorId);
      // A general post is public; a channel post is seen by whoever can see its channel.
      const visible = event.channelId === null ? mentioned : [...(await this.#channels.whoCanSee(event.channelId, mentioned))];
      await this.#store.insert(
        visible.map((recipientId) => ({
          id: newId(),
          recipientId,
          type: 'mention' as const,
          actorId: event.authorId,
          ...post,
          groupKey: `mention:${event.postId}`,
          sourceKey,
          createdAt,
        })),
        uow,
      );
    }
    if (event.channelId !== null) {
      const members = (await this.#channels.memberIds(event.channelId, CHANNEL_FAN_OUT_LIMIT + 1)).filter((id) => id !== event.authorId);
      await this.#store.insert(
        members.slice(0, CHANNEL_FAN_OUT_LIMIT).map((recipientId) => ({
          id: newId(),
          recipientId,
          type: 'channelPost' as const,
          actorId: event.authorId,
          ...post,
          groupKey: `channelPost:${event.channelId}`,
          sourceKey,
          createdAt,
        })),
        uow,
      );
    }
  }

  /**
   * The recipients of a direct message hear of it while they are not reading the conversation:
   * not those the direct-messages domain says are reading it, and not those who already have an
   * unread notification of this conversation (one not yet dismissed, after their marker). A
   * conversation being written in thus notifies once, and again once that notification is read.
   */
  async onMessageSent(event: MessageSent, uow?: UnitOfWork): Promise<void> {
    await this.onMessagesSent([event], uow);
  }

  /**
   * Several messages' notices at once (a worker's batch of their jobs), in the order given (that
   * of the messages in each conversation), with the effect of `onMessageSent` on each in turn:
   * one statement for them all.
   */
  async onMessagesSent(events: MessageSent[], uow?: UnitOfWork): Promise<void> {
    const now = this.#now();
    await this.#store.insertUnlessConversationUnread(
      events.flatMap((event) => {
        const reading = new Set(event.readingIds ?? []);
        return event.recipientIds
          .filter((id) => id !== event.authorId && !reading.has(id))
          .map((recipientId) => ({
            id: newId(),
            recipientId,
            type: 'messageReceived' as const,
            actorId: event.authorId,
            ...NO_SUBJECT,
            conversationId: event.conversationId,
            messageId: event.messageId,
            groupKey: `messageReceived:${event.conversationId}`,
            sourceKey: `message:${event.messageId}`,
            createdAt: now,
          }));
      }),
      uow,
    );
  }

  /** A closed account's notifications and marker go, and so do those it caused for others. */
  async forgetAccount(accountId: string): Promise<void> {
    await this.#store.deleteAccount(accountId);
  }

  /** Notifications about deleted channels' posts go with them. */
  async forgetChannels(channelIds: string[]): Promise<void> {
    await this.#store.deleteChannels(channelIds);
  }

  /** Notifications about deleted posts (mentions, a channel's new post) go with them. */
  async forgetPosts(postIds: string[]): Promise<void> {
    await this.#store.deletePosts(postIds);
  }

  /**
   * A conversation's notice names the first message its recipient had not read: when that
   * message is deleted, it names the next one the recipient did not write (and that one's
   * author), or goes when there is none.
   */
  async onMessageDeleted(event: MessageDeleted): Promise<void> {
    await this.#store.repointMessage(event.conversationId, event.messageId, event.successors);
  }

  /* ---------------------------------------------------------------- recipients */

  /** The caller's notifications, newest first. */
  async list(caller: Caller, request: ListNotificationsRequest): Promise<Page<Notification>> {
    const filters = { notificationsOf: caller.accountId, types: request.types?.toSorted().join(',') ?? null };
    const at = start(request, filters, this.#settings.maxPage);
    const rows = await this.#store.list({ recipientId: caller.accountId, types: request.types, limit: request.limit + 1, ...at });
    // The cursor comes from the rows read, so notifications dropped below are skipped, never read twice.
    const next = nextCursor(rows, request.limit, (r) => r.seq, filters);
    return { items: await this.#withActors(rows.slice(0, request.limit)), nextCursor: next };
  }

  /** The caller's notifications gathered by group key, the group with the newest notification first. */
  async listGroups(caller: Caller, request: ListNotificationsRequest): Promise<Page<NotificationGroup>> {
    const filters = { notificationGroupsOf: caller.accountId, types: request.types?.toSorted().join(',') ?? null };
    const at = start(request, filters, this.#settings.maxPage);
    const groups = await this.#store.groups({ recipientId: caller.accountId, types: request.types, limit: request.limit + 1, ...at }, GROUP_ACTORS_READ);
    const next = nextCursor(groups, request.limit, (g) => g.latestSeq, filters);
    return { items: await this.#asGroups(caller.accountId, groups.slice(0, request.limit)), nextCursor: next };
  }

  /** How far the caller has read, and how many notifications came after that. */
  async marker(caller: Caller): Promise<Marker> {
    const row = await this.#store.marker(caller.accountId, UNREAD_CAP);
    return { lastReadId: row.lastReadId, unreadCount: Math.min(row.unread, UNREAD_CAP), version: row.version };
  }

  /**
   * Moves the caller's marker to one of its notifications if `expectedVersion` is current (any
   * version when undefined). Moving it backwards (or to where it is) changes nothing.
   */
  async moveMarker(caller: Caller, lastReadId: string, expectedVersion: number | undefined): Promise<Marker> {
    const target = await this.#store.find(caller.accountId, lastReadId);
    if (!target) throw new InvalidInput([{ field: 'lastReadId', detail: 'is not one of your notifications' }]);
    const outcome = await this.#store.moveMarker(caller.accountId, target.seq, target.id, expectedVersion, this.#now());
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    return this.marker(caller);
  }

  /** Dismisses one of the caller's notifications; anybody else's does not exist. */
  async dismiss(caller: Caller, notificationId: string): Promise<void> {
    if (!(await this.#store.delete(caller.accountId, notificationId))) throw new NotFound('notification');
  }

  /** What the caller may do with a notification: dismiss its own; anybody else's does not exist. */
  async permissions(caller: Caller, notificationId: string): Promise<{ delete: boolean }> {
    if (!(await this.#store.find(caller.accountId, notificationId))) throw new NotFound('notification');
    return { delete: true };
  }

  /* ------------------------------------------------------------------ the live stream */

  /**
   * The recipient's notifications after `after`, in the live stream's order (a source of the
   * stream domain); `data` is undefined for one whose actor is gone (passed over, like in lists).
   */
  async streamSince(recipientId: string, after: StreamPosition, limit: number): Promise<{ events: { position: StreamPosition; data: Notification | undefined }[]; pending: boolean }> {
    const { rows, pending } = await this.#store.streamSince(recipientId, after, limit);
    const actors = await this.#accounts.summaries(rows.map((r) => r.actorId));
    const events = rows.map((row) => {
      const actor = actors.get(row.actorId);
      return { position: { txid: BigInt(row.position.txid), seq: BigInt(row.position.seq) }, data: actor ? view(row, actor) : undefined };
    });
    return { events, pending };
  }

  /** Where the recipient's live stream of notifications starts when it opens now. */
  streamTail(recipientId: string): Promise<StreamPosition> {
    return this.#store.streamTail(recipientId);
  }

  async #withActors(rows: NotificationRow[]): Promise<Notification[]> {
    const actors = await this.#accounts.summaries(rows.map((r) => r.actorId));
    const notifications: Notification[] = [];
    for (const row of rows) {
      const actor = actors.get(row.actorId);
      // Closing an account removes what it caused; a page must not depend on that having finished.
      if (actor) notifications.push(view(row, actor));
    }
    return notifications;
  }

  async #asGroups(recipientId: string, groups: GroupRow[]): Promise<NotificationGroup[]> {
    const latest = new Map((await this.#store.findBySeqs(recipientId, groups.map((g) => g.latestSeq))).map((r) => [r.seq, r]));
    const samples = groups.map((g) => [...new Set(g.actorIds)].slice(0, GROUP_SAMPLE_ACCOUNTS));
    const people = await this.#accounts.summaries([...latest.values()].map((r) => r.actorId).concat(samples.flat()));
    return groups.flatMap((group, i) => {
      const row = latest.get(group.latestSeq);
      const actor = row && people.get(row.actorId);
      if (!row || !actor) return [];
      return [
        {
          groupKey: group.groupKey,
          type: row.type,
          count: group.count,
          sampleAccounts: samples[i]!.flatMap((id) => people.get(id) ?? []),
          latest: view(row, actor),
          newestAt: group.newestAt,
          oldestAt: group.oldestAt,
        },
      ];
    });
  }
}

function view(row: NotificationRow, actor: AccountSummary): Notification {
  return {
    id: row.id,
    type: row.type,
    createdAt: row.createdAt,
    actor,
    groupKey: row.groupKey,
    postId: row.postId,
    channelId: row.channelId,
    conversationId: row.conversationId,
    friendRequestId: row.friendRequestId,
  };
}
