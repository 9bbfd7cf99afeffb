// What the channels domain hands to its callers.
import type { AccountSummary } from '../accounts/index.ts';

export type Visibility = 'public' | 'private';

export interface Channel {
  id: string;
  ownerId: string;
  name: string;
  description: string;
  visibility: Visibility;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface NewChannel {
  name: string;
  description?: string;
  visibility: Visibility;
}

export interface ChannelPatch {
  name?: string;
  description?: string;
  visibility?: Visibility;
}

export interface Member {
  account: AccountSummary;
  role: 'owner' | 'member';
  joinedAt: Date;
}

/** What a caller may do in a channel it can see (one it cannot see is NotFound). */
export interface ChannelAccess {
  channel: Channel;
  member: boolean;
  owner: boolean;
}

export interface ListRequest {
  limit: number;
  cursor?: string;
  page?: number;
  newestFirst: boolean;
}

export interface ChannelsSettings {
  maxPage: number;
  /** What the channels kept in memory may weigh, estimated in bytes (CHANNEL_CACHE_MB; 0: none). */
  cacheBytes: number;
}
