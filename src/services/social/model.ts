// What the social domain hands to its callers.
import type { AccountSummary } from '../accounts/index.ts';

export interface FriendRequest {
  id: string;
  sender: AccountSummary;
  recipient: AccountSummary;
  createdAt: Date;
}

export interface Friend {
  account: AccountSummary;
  since: Date;
}

export interface ListRequest {
  limit: number;
  cursor?: string;
  page?: number;
  newestFirst: boolean;
}

export interface ListFriendRequestsRequest extends ListRequest {
  direction: 'incoming' | 'outgoing';
}

export interface SocialSettings {
  maxPage: number;
  /** The most friendships (pairs of accounts) kept in memory; 0 or absent: none. */
  friendshipCacheEntries?: number;
}
