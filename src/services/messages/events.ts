// The events the messages domain publishes (see ../events.ts), with what they carry.

/** A direct message was stored; `recipientIds` are the conversation's other open participants. */
export interface MessageSent {
  conversationId: string;
  messageId: string;
  authorId: string;
  recipientIds: string[];
}

/**
 * A direct message was deleted by its author (in process, emitted once the deletion is done).
 * `successors`: for each other participant, the oldest message after it that they did not write
 * themselves (and its author), or null when there is none: what a notice of the deleted message
 * should name instead.
 */
export interface MessageDeleted {
  conversationId: string;
  messageId: string;
  authorId: string;
  successors: { recipientId: string; messageId: string | null; authorId: string | null }[];
}

declare module '../events.ts' {
  interface DomainEventMap {
    'message.sent': MessageSent;
    'message.deleted': MessageDeleted;
  }
}
