// In-process domain events: how a domain tells the others that something happened without
// knowing who cares (accounts do not know that posts exist). Listeners are wired by the
// composition root and awaited in order, so the effects are done when `emit` returns; a
// failing listener does not stop the others, and `emit` then throws all their errors at once.

/** Every event a domain may publish, with what it carries. */
export interface DomainEventMap {
  /** An account was deleted; other domains remove what belonged to it. */
  'account.closed': { accountId: string };
  /** Channels were deleted; other domains remove what lived in them. */
  'channels.deleted': { channelIds: string[] };
  /** `senderId` asked `recipientId` to be friends. */
  'friendRequest.created': { requestId: string; senderId: string; recipientId: string };
  /** `accountId` accepted the friend request `friendId` had sent it: they are friends (`friendshipId` is accountId's side). */
  'friendRequest.accepted': { friendshipId: string; accountId: string; friendId: string };
  /** A post was published: a general one (`channelId` null) or in a channel. */
  'post.published': { postId: string; authorId: string; channelId: string | null; text: string; createdAt: Date };
  /** A direct message was sent to the conversation's other participants. */
  'message.sent': { conversationId: string; messageId: string; authorId: string; recipientIds: string[] };
}

export type DomainEventName = keyof DomainEventMap;
export type DomainEventListener<K extends DomainEventName> = (payload: DomainEventMap[K]) => Promise<void> | void;

export class DomainEvents {
  readonly #listeners = new Map<DomainEventName, DomainEventListener<never>[]>();

  on<K extends DomainEventName>(name: K, listener: DomainEventListener<K>): void {
    const list = this.#listeners.get(name) ?? [];
    list.push(listener as DomainEventListener<never>);
    this.#listeners.set(name, list);
  }

  async emit<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): Promise<void> {
    const failures: unknown[] = [];
    for (const listener of this.#listeners.get(name) ?? []) {
      try {
        await (listener as DomainEventListener<K>)(payload);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} listener(s) of ${name} failed`);
  }
}
