// The channels domain's tables, all in the `channels` PostgreSQL schema. Account ids are plain
// uuids: accounts live in another domain, so there is no foreign key to them.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

export const ChannelEntity = defineEntity({
  name: 'Channel',
  schema: 'channels',
  tableName: 'channel',
  properties: {
    id: p.uuid().primary(),
    ownerId: p.uuid(),
    name: p.string().length(80),
    description: p.string().length(1000),
    visibility: p.enum(['public', 'private'] as const),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    version: p.integer(),
  },
  indexes: [
    // Keyset pages of public channels.
    { name: 'channel_visibility_id_index', properties: ['visibility', 'id'] },
    // Removing a closed account's channels.
    { name: 'channel_owner_id_index', properties: ['ownerId'] },
  ],
  // Invalidate the channel caches of every instance (Migration20261124020000).
  triggers: [notifyingTrigger('channels', 'channel', 'channel_gone', 'delete'), notifyingTrigger('channels', 'channel', 'channel_changed', 'update')],
});

export const MembershipEntity = defineEntity({
  name: 'Membership',
  schema: 'channels',
  tableName: 'membership',
  properties: {
    id: p.uuid().primary(),
    channel: () => p.manyToOne(ChannelEntity).deleteRule('cascade'),
    accountId: p.uuid(),
    createdAt: p.datetime(),
  },
  uniques: [{ name: 'membership_channel_account_key', properties: ['channel', 'accountId'] }],
  indexes: [
    // Keyset pages of a channel's members.
    { name: 'membership_channel_id_id_index', properties: ['channel', 'id'] },
    // Removing a closed account's memberships.
    { name: 'membership_account_id_index', properties: ['accountId'] },
  ],
});

export const channelsEntities = [ChannelEntity, MembershipEntity];
