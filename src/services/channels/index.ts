// The channels domain's public API: channels, memberships, and who may see and post in them.
// Everything else in this folder is private to it.
import { ChannelsStore } from '../../persistence/channels/index.ts';
import type { Database } from '../../persistence/sql.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { Caching } from '../cache.ts';
import type { DomainEvents } from '../events.ts';
import { ChannelsDirectory, type ChannelsService } from './channels-service.ts';
import type { ChannelsSettings } from './model.ts';

export type { ChannelsService } from './channels-service.ts';
export type { ChannelsDeleted } from './events.ts';
export type { Channel, ChannelAccess, ChannelPatch, ChannelsSettings, ListRequest, Member, NewChannel, Visibility } from './model.ts';

export function createChannelsDomain(db: Database, accounts: AccountsService, settings: ChannelsSettings, events?: DomainEvents, caching?: Caching): { channels: ChannelsService } {
  return { channels: new ChannelsDirectory(new ChannelsStore(db), accounts, settings, events, undefined, caching) };
}
