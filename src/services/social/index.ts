// The social graph's public API: friend requests and friendships. Everything else in this
// folder is private to it.
import type { Database } from '../../persistence/sql.ts';
import { SocialStore } from '../../persistence/social/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { Caching } from '../cache.ts';
import type { DomainEvents } from '../events.ts';
import type { SocialSettings } from './model.ts';
import { SocialGraphService, type SocialService } from './social-service.ts';

export type { SocialService } from './social-service.ts';
export type { FriendRequestAccepted, FriendRequestCreated } from './events.ts';
export type { Friend, FriendRequest, ListFriendRequestsRequest, ListRequest, SocialSettings } from './model.ts';

export function createSocialDomain(db: Database, accounts: AccountsService, settings: SocialSettings, events?: DomainEvents, caching?: Caching): { social: SocialService } {
  return { social: new SocialGraphService(new SocialStore(db), accounts, settings, undefined, events, caching) };
}
