// Direct messages: conversations between an account and its friends, their messages and each
// participant's read marker. Only friends can be messaged unasked (the social domain says who
// they are); a conversation and everything in it is NotFound to anybody not in it; a closed
// account's messages stay, its author shown as closed (the accounts domain no longer knows it).
import { hash } from 'node:crypto';
import { newId } from '../ids.ts';
import type { ConversationRow, MarkerRow, MessageRow, MessagesStore, ParticipantRow } from '../../persistence/messages/index.ts';
import type { UnitOfWork } from '../../persistence/sql.ts';
import type { AccountsService, AccountSummary, Caller } from '../accounts/index.ts';
import { InvalidatedCache, noCaching, type Caching } from '../cache.ts';
import { Forbidden, InvalidInput, NotFound, PreconditionFailed } from '../errors.ts';
import { publishing, type DomainEvents } from '../events.ts';
import { pageStart, toPage, type Page } from '../pagination.ts';
import type { SocialService } from '../social/index.ts';
import {
  MAX_OTHER_PARTICIPANTS,
  messageBy,
  type Conversation,
  type Marker,
  type Message,
  type MessagesSettings,
  type NewConversation,
  type NewMessage,
  type PageRequest,
  type Participant,
} from './model.ts';

const byTime = { byTime: true };

/** A message's place in the live stream: its transaction's id, then its seq. */
export type StreamPosition = { txid: bigint; seq: bigint };

function checkText(text: string): string {
  if (text.trim() === '') throw new InvalidInput([{ field: 'text', detail: 'must not be blank' }]);
  if (text.includes('\u0000')) throw new InvalidInput([{ field: 'text', detail: 'must not contain NUL characters' }]);
  return text;
}

/** The same for every order of the same people: one conversation per set of them. */
function participantKey(accountIds: string[]): string {
  return hash('sha256', [...accountIds].sort().join(','), 'hex');
}

/** How a participant shows: from its summary while the account exists, as closed once it does not. */
function asParticipant(row: ParticipantRow, people: Map<string, AccountSummary>): Participant {
  const summary = row.closed ? undefined : people.get(row.accountId);
  return summary
    ? { id: row.accountId, closed: false, handle: summary.handle, displayName: summary.displayName }
    : { id: row.accountId, closed: true, handle: null, displayName: null };
}

/**
 * The messages domain's service interface: what the handlers and the stream domain use. It is
 * served in process (DirectMessages, below) or, with MESSAGES_SERVICE_URL, by a stub that calls a
 * domain server (src/remote/messages.ts); the internal contract (internal/messages.openapi.yaml)
 * is checked against it at compile time, in both directions.
 */
export interface MessagesService {
  start(caller: Caller, input: NewConversation, uow?: UnitOfWork): Promise<{ conversation: Conversation; created: boolean }>;
  get(caller: Caller, conversationId: string): Promise<Conversation>;
  list(caller: Caller, request: PageRequest): Promise<Page<Conversation>>;
  listMessages(caller: Caller, conversationId: string, request: PageRequest): Promise<Page<Message>>;
  getMessage(caller: Caller, conversationId: string, messageId: string): Promise<Message>;
  send(caller: Caller, conversationId: string, input: NewMessage, uow?: UnitOfWork): Promise<Message>;
  deleteMessage(caller: Caller, conversationId: string, messageId: string): Promise<void>;
  marker(caller: Caller, conversationId: string): Promise<Marker>;
  moveMarker(caller: Caller, conversationId: string, expectedVersion: number | undefined, lastReadMessageId: string): Promise<Marker>;
  messagesPermissions(caller: Caller, conversationId: string): Promise<{ send: boolean }>;
  messagePermissions(caller: Caller, conversationId: string, messageId: string): Promise<{ delete: boolean }>;
  forgetAccount(accountId: string): Promise<void>;
  streamSince(accountId: string, after: StreamPosition, limit: number): Promise<{ events: { position: StreamPosition; data: Message }[]; pending: boolean }>;
  streamTail(accountId: string): Promise<StreamPosition>;
}

export class DirectMessages implements MessagesService {
  readonly #store: MessagesStore;
  readonly #accounts: AccountsService;
  readonly #social: SocialService;
  readonly #settings: MessagesSettings;
  readonly #events: DomainEvents | undefined;
  readonly #now: () => Date;
  /**
   * Each conversation's participants, by its id: read by every request about the conversation
   * (whether the caller is in it, who the message goes to). PostgreSQL announces the conversations
   * whose participants were added, removed or closed ("mp:", Migration20261205110100); this
   * instance's own changes evict at once. Only conversations that exist are kept.
   */
  readonly #participants: InvalidatedCache<ParticipantRow[]>;

  constructor(
    store: MessagesStore,
    others: { accounts: AccountsService; social: SocialService },
    settings: MessagesSettings,
    events?: DomainEvents,
    now: () => Date = () => new Date(),
    caching: Caching = noCaching,
  ) {
    this.#store = store;
    this.#accounts = others.accounts;
    this.#social = others.social;
    this.#settings = settings;
    this.#events = events;
    this.#now = now;
    this.#participants = new InvalidatedCache(caching, { name: 'participants', topic: 'mp', maxEntries: settings.participantCacheEntries ?? 0 });
  }

  /**
   * Starts a conversation between the caller and `participantIds`, every one of them its friend;
   * `created` is false when these people already have one (it is returned instead). Writes on
   * `uow` when given.
   */
  async start(caller: Caller, input: NewConversation, uow?: UnitOfWork): Promise<{ conversation: Conversation; created: boolean }> {
    const others = input.participantIds.map((id) => id.toLowerCase());
    if (others.length === 0 || others.length > MAX_OTHER_PARTICIPANTS) {
      throw new InvalidInput([{ field: 'participantIds', detail: `must name 1 to ${MAX_OTHER_PARTICIPANTS} accounts` }]);
    }
    if (new Set(others).size !== others.length) throw new InvalidInput([{ field: 'participantIds', detail: 'must not name an account twice' }]);
    if (others.includes(caller.accountId)) throw new InvalidInput([{ field: 'participantIds', detail: 'must not include yourself' }]);
    const friends = new Set(await this.#social.friendIdsOf(caller.accountId));
    const strangers = others.filter((id) => !friends.has(id));
    if (strangers.length > 0) {
      throw new Forbidden(`you can only message your friends; not your friend${strangers.length > 1 ? 's' : ''}: ${strangers.join(', ')}`);
    }
    const accountIds = [caller.accountId, ...others];
    const now = this.#now();
    const { created, id } = await this.#store.insertConversation({ id: newId(), participantKey: participantKey(accountIds), createdAt: now, accountIds }, uow);
    if (created) {
      // Built from what was just written: on `uow`, the rows are not visible to other connections yet.
      const rows = accountIds.map((accountId) => ({ accountId, closed: false }));
      const people = await this.#accounts.summaries(accountIds);
      return {
        created,
        conversation: {
          id,
          participants: rows.map((r) => asParticipant(r, people)),
          lastMessage: null,
          marker: { conversationId: id, lastReadMessageId: null, unreadCount: 0, version: 0 },
          createdAt: now,
          lastActivityAt: now,
        },
      };
    }
    return { created, conversation: await this.get(caller, id) };
  }

  async get(caller: Caller, conversationId: string): Promise<Conversation> {
    const row = await this.#store.findConversationFor(conversationId, caller.accountId);
    if (!row) throw new NotFound('conversation');
    const [conversation] = await this.#asConversations([row]);
    return conversation!;
  }

  /** The caller's conversations, latest activity first. */
  async list(caller: Caller, request: PageRequest): Promise<Page<Conversation>> {
    const filters = { conversationsOf: caller.accountId };
    const start = pageStart(request, filters, this.#settings.maxPage, byTime);
    const rows = await this.#store.listConversations({ accountId: caller.accountId, limit: request.limit + 1, ...start });
    const page = toPage(rows, request.limit, filters, (r) => r.lastActivityAt);
    return { items: await this.#asConversations(page.items), nextCursor: page.nextCursor };
  }

  /** The conversation's messages, newest first. */
  async listMessages(caller: Caller, conversationId: string, request: PageRequest): Promise<Page<Message>> {
    const filters = { conversationId };
    const start = pageStart(request, filters, this.#settings.maxPage);
    const stamp = this.#participants.stamp();
    const { participants, messages } = await this.#store.listMessages({ conversationId, limit: request.limit + 1, ...start });
    // Read with the page: kept, as #participantsFor keeps them, for the caller's next message
    // (unless already kept: each read of a page would replace them).
    if (participants.length > 0) this.#participants.add(conversationId, participants, stamp);
    assertParticipant(caller, participants);
    const page = toPage(messages, request.limit, filters);
    const people = await this.#accounts.summaries(participants.map((p) => p.accountId));
    return { items: page.items.map((m) => this.#asMessage(m, participants, people)), nextCursor: page.nextCursor };
  }

  async getMessage(caller: Caller, conversationId: string, messageId: string): Promise<Message> {
    const participants = await this.#participantsFor(caller, conversationId);
    const row = await this.#store.findMessage(conversationId, messageId);
    if (!row) throw new NotFound('message');
    const people = await this.#accounts.summaries(participants.map((p) => p.accountId));
    return this.#asMessage(row, participants, people);
  }

  /**
   * Sends a message; in a conversation of two, only while the other is still the caller's
   * friend. Writes on `uow` when given (else in a transaction of its own), and publishes
   * `message.sent` in the same unit of work.
   */
  async send(caller: Caller, conversationId: string, input: NewMessage, uow?: UnitOfWork): Promise<Message> {
    const text = checkText(input.text);
    const participants = await this.#participantsFor(caller, conversationId);
    if (!(await this.#maySend(caller, participants))) throw new Forbidden('the other participant is no longer your friend; you cannot message them');
    const recipientIds = participants.filter((p) => !p.closed && p.accountId !== caller.accountId).map((p) => p.accountId);
    // The message and its event's jobs commit together: with the caller's unit of work when given.
    const row = await this.#store.unitOfWork(uow, async (tx) => {
      const inserted = await this.#store.insertMessage({ id: newId(), conversationId, authorId: caller.accountId, text, createdAt: this.#now() }, tx);
      await this.#events?.publish('message.sent', { conversationId, messageId: inserted.id, authorId: caller.accountId, recipientIds }, tx);
      return inserted;
    });
    const people = await this.#accounts.summaries([caller.accountId]);
    return this.#asMessage(row, participants, people);
  }

  /** Its author deletes a message, for everybody. */
  async deleteMessage(caller: Caller, conversationId: string, messageId: string): Promise<void> {
    await this.#participantsFor(caller, conversationId);
    const row = await this.#store.findMessage(conversationId, messageId);
    if (!row) throw new NotFound('message');
    if (row.authorId !== caller.accountId) throw new Forbidden('only its author may delete a message');
    const about = { conversationId, messageId, authorId: row.authorId };
    // The deletion and its clean-ups' jobs commit together.
    const successors = await publishing(
      this.#events,
      'message.deleted',
      (uow) => this.#store.deleteMessage(conversationId, messageId, row.authorId, uow),
      (successors) => (successors ? { ...about, successors } : null),
      (work) => this.#store.unitOfWork(undefined, work),
    );
    if (!successors) throw new NotFound('message');
    // Before the deletion answers: a notice naming the message names the next one, or goes.
    await this.#events?.emit('message.deleted', { ...about, successors });
  }

  async marker(caller: Caller, conversationId: string): Promise<Marker> {
    const row = await this.#store.findMarker(conversationId, caller.accountId);
    if (!row) throw new NotFound('conversation');
    return asMarker(conversationId, row);
  }

  /**
   * Moves the caller's marker forward to `lastReadMessageId` if `expectedVersion` is current
   * (any when undefined); backwards is a no-op that answers the marker as it is.
   */
  async moveMarker(caller: Caller, conversationId: string, expectedVersion: number | undefined, lastReadMessageId: string): Promise<Marker> {
    await this.#participantsFor(caller, conversationId);
    if (!(await this.#store.findMessage(conversationId, lastReadMessageId))) {
      throw new InvalidInput([{ field: 'lastReadMessageId', detail: 'is not a message of this conversation' }]);
    }
    const outcome = await this.#store.moveMarker(conversationId, caller.accountId, lastReadMessageId, expectedVersion);
    if (outcome.kind === 'not-found') throw new NotFound('conversation');
    if (outcome.kind === 'stale') throw new PreconditionFailed(outcome.currentVersion);
    return asMarker(conversationId, outcome.marker);
  }

  /** What the caller may do with the conversation's messages (NotFound when it is not in it). */
  async messagesPermissions(caller: Caller, conversationId: string): Promise<{ send: boolean }> {
    const participants = await this.#participantsFor(caller, conversationId);
    return { send: await this.#maySend(caller, participants) };
  }

  async messagePermissions(caller: Caller, conversationId: string, messageId: string): Promise<{ delete: boolean }> {
    const message = await this.getMessage(caller, conversationId, messageId);
    return { delete: message.authorId === caller.accountId };
  }

  /** A closed account stays in its conversations as closed, its messages kept for the others. */
  async forgetAccount(accountId: string): Promise<void> {
    await this.#store.closeParticipant(accountId, this.#now());
    this.#participants.evictWhere((rows) => rows.some((row) => row.accountId === accountId));
  }

  /**
   * The participant's messages after `after`, in the live stream's order (a source of the stream
   * domain): those of every conversation it is in, its own included (its other sessions see them).
   */
  async streamSince(accountId: string, after: StreamPosition, limit: number): Promise<{ events: { position: StreamPosition; data: Message }[]; pending: boolean }> {
    const { rows, pending } = await this.#store.streamSince(accountId, after, limit);
    const people = await this.#accounts.summaries(rows.map((r) => r.authorId));
    const events = rows.map((row) => ({
      position: { txid: BigInt(row.position.txid), seq: BigInt(row.position.seq) },
      data: messageBy(row, asParticipant({ accountId: row.authorId, closed: row.authorClosed }, people)),
    }));
    return { events, pending };
  }

  /** Where the participant's live stream of messages starts when it opens now. */
  async streamTail(accountId: string): Promise<StreamPosition> {
    return this.#store.streamTail(accountId);
  }

  /** The conversation's participants, if the caller is one of them; NotFound otherwise. */
  async #participantsFor(caller: Caller, conversationId: string): Promise<ParticipantRow[]> {
    let participants = this.#participants.get(conversationId);
    if (participants === undefined) {
      const stamp = this.#participants.stamp();
      participants = await this.#store.participants(conversationId);
      if (participants.length > 0) this.#participants.set(conversationId, participants, stamp);
    }
    assertParticipant(caller, participants);
    return participants;
  }

  async #maySend(caller: Caller, participants: ParticipantRow[]): Promise<boolean> {
    if (participants.length !== 2) return true;
    const other = participants.find((p) => p.accountId !== caller.accountId);
    if (!other || other.closed) return false;
    // The one friendship asked about, not the caller's whole list of friends.
    return this.#social.getFriend(caller.accountId, other.accountId).then(
      () => true,
      (error: unknown) => {
        if (error instanceof NotFound) return false;
        throw error;
      },
    );
  }

  #asMessage(row: MessageRow, participants: ParticipantRow[], people: Map<string, AccountSummary>): Message {
    const author = participants.find((p) => p.accountId === row.authorId) ?? { accountId: row.authorId, closed: true };
    return messageBy(row, asParticipant(author, people));
  }

  /** One batch of summaries for every participant on the page. */
  async #asConversations(rows: ConversationRow[]): Promise<Conversation[]> {
    const people = await this.#accounts.summaries(rows.flatMap((r) => r.participants.map((p) => p.accountId)));
    return rows.map((r) => ({
      id: r.id,
      participants: r.participants.map((p) => asParticipant(p, people)),
      lastMessage: r.lastMessage ? this.#asMessage(r.lastMessage, r.participants, people) : null,
      marker: asMarker(r.id, r.marker),
      createdAt: r.createdAt,
      lastActivityAt: r.lastActivityAt,
    }));
  }
}

/** NotFound unless the caller is one of the participants, and still open. */
function assertParticipant(caller: Caller, participants: ParticipantRow[]): void {
  if (!participants.some((p) => p.accountId === caller.accountId && !p.closed)) throw new NotFound('conversation');
}

function asMarker(conversationId: string, row: MarkerRow): Marker {
  return { conversationId, lastReadMessageId: row.lastReadMessageId, unreadCount: row.unreadCount, version: row.version };
}
