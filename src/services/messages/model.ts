// What the messages domain hands to its callers.

/**
 * An account in a conversation. A closed account keeps its place (its messages stay) but shows
 * no handle or name.
 */
export type Participant = { id: string; closed: false; handle: string; displayName: string } | { id: string; closed: true; handle: null; displayName: null };

export interface Message {
  id: string;
  conversationId: string;
  authorId: string;
  author: Participant;
  text: string;
  createdAt: Date;
}

/**
 * A message of `row` by `author`, its fields named one by one, as `postBy` builds posts (where a
 * spread of each row was measured at three times the cost; for messages it was not measured apart).
 */
export function messageBy(row: Omit<Message, 'author'>, author: Participant): Message {
  return { id: row.id, conversationId: row.conversationId, authorId: row.authorId, author, text: row.text, createdAt: row.createdAt };
}

/** A participant's read position: the last message it read, and how many by others came after. */
export interface Marker {
  conversationId: string;
  lastReadMessageId: string | null;
  unreadCount: number;
  version: number;
}

/** A conversation as one of its participants sees it. */
export interface Conversation {
  id: string;
  participants: Participant[];
  lastMessage: Message | null;
  marker: Marker;
  createdAt: Date;
  lastActivityAt: Date;
}

export interface NewConversation {
  /** The other participants: the caller's friends, not the caller. */
  participantIds: string[];
}

export interface NewMessage {
  text: string;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
  page?: number;
}

export interface MessagesSettings {
  maxPage: number;
  /** The most conversations whose participants are kept in memory; 0 or absent: none. */
  participantCacheEntries?: number;
}

/** The most other people a conversation can have (the contract's `maxItems`). */
export const MAX_OTHER_PARTICIPANTS = 49;
