// What the notifications domain hands to its callers.
import type { AccountSummary } from '../accounts/index.ts';

export const NOTIFICATION_TYPES = ['friendRequestReceived', 'friendRequestAccepted', 'messageReceived', 'channelPost', 'mention'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export interface Notification {
  id: string;
  type: NotificationType;
  createdAt: Date;
  /** Who did what the notification tells about. */
  actor: AccountSummary;
  /** Notifications with the same key are one group (e.g. new posts in one channel). */
  groupKey: string;
  postId: string | null;
  channelId: string | null;
  conversationId: string | null;
  friendRequestId: string | null;
}

export interface NotificationGroup {
  groupKey: string;
  type: NotificationType;
  /** How many notifications the group holds. */
  count: number;
  /** The latest distinct actors, newest first. */
  sampleAccounts: AccountSummary[];
  latest: Notification;
  newestAt: Date;
  oldestAt: Date;
}

export interface Marker {
  /** The last notification read; null while none was. */
  lastReadId: string | null;
  /** Notifications after the marker, counted up to `UNREAD_CAP`. */
  unreadCount: number;
  version: number;
}

export interface ListNotificationsRequest {
  limit: number;
  cursor?: string;
  page?: number;
  /** Only these types; every type when undefined. */
  types?: NotificationType[];
}

export interface NotificationsSettings {
  maxPage: number;
}

/** What the consumers are told: the domain events' payloads, as the job queue will carry them. */
export interface FriendRequestReceived {
  requestId: string;
  senderId: string;
  recipientId: string;
}

export interface FriendRequestAccepted {
  friendshipId: string;
  /** Who accepted. */
  accountId: string;
  /** Who had asked, and is told. */
  friendId: string;
}

export interface PostPublished {
  postId: string;
  authorId: string;
  channelId: string | null;
  text: string;
  /** ISO 8601: the payload travels as JSON. */
  createdAt: string;
}

/**
 * A direct message was deleted. `successors`: for each other participant, the oldest message
 * after it that they did not write (and its author), or null: a notice naming the deleted
 * message names that one instead, or goes.
 */
export interface MessageDeleted {
  conversationId: string;
  messageId: string;
  authorId: string;
  successors: { recipientId: string; messageId: string | null; authorId: string | null }[];
}

export interface MessageSent {
  conversationId: string;
  messageId: string;
  authorId: string;
  recipientIds: string[];
  /**
   * Recipients reading the conversation as the message arrives (their read position in it was
   * at the previous message): they are not notified. The direct-messages domain knows; when it
   * does not say, every recipient counts as not reading.
   */
  readingIds?: string[];
}
