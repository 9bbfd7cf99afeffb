// The social graph's public API: friend requests and friendships. Everything else in this
// folder is private to it.
import type { Orm } from '../../persistence/db.ts';
import { SocialStore } from '../../persistence/social/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { DomainEvents } from '../events.ts';
import type { SocialSettings } from './model.ts';
import { SocialService } from './social-service.ts';

export type { SocialService } from './social-service.ts';
export type { Friend, FriendRequest, ListFriendRequestsRequest, ListRequest, SocialSettings } from './model.ts';

export function createSocialDomain(orm: Orm, accounts: AccountsService, settings: SocialSettings, events?: DomainEvents) {
  return { social: new SocialService(new SocialStore(orm), accounts, settings, undefined, events) };
}
