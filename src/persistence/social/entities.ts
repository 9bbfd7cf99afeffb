// The social graph's tables, all in the `social` PostgreSQL schema. Account ids are plain
// uuids: accounts live in another domain, so there is no foreign key to them.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

export const FriendRequestEntity = defineEntity({
  name: 'FriendRequest',
  schema: 'social',
  tableName: 'friend_request',
  properties: {
    id: p.uuid().primary(),
    senderId: p.uuid(),
    recipientId: p.uuid(),
    createdAt: p.datetime(),
  },
  uniques: [{ name: 'friend_request_sender_recipient_key', properties: ['senderId', 'recipientId'] }],
  // Keyset pages of incoming and outgoing requests: filter on one side, order by id.
  indexes: [
    { name: 'friend_request_recipient_id_id_index', properties: ['recipientId', 'id'] },
    { name: 'friend_request_sender_id_id_index', properties: ['senderId', 'id'] },
  ],
});

/** A friendship is stored once per side, so each account's friends are one index range. */
export const FriendshipEntity = defineEntity({
  name: 'Friendship',
  schema: 'social',
  tableName: 'friendship',
  properties: {
    id: p.uuid().primary(),
    accountId: p.uuid(),
    friendId: p.uuid(),
    createdAt: p.datetime(),
  },
  uniques: [{ name: 'friendship_account_friend_key', properties: ['accountId', 'friendId'] }],
  indexes: [
    { name: 'friendship_account_id_id_index', properties: ['accountId', 'id'] },
    // Removing a closed account from everybody else's friends.
    { name: 'friendship_friend_id_index', properties: ['friendId'] },
  ],
  // Invalidate the feed pages every instance keeps in memory (Migration20261202220000; the
  // functions are the timelines domain's).
  // And the friendships every instance keeps in memory (Migration20261205110000).
  triggers: [
    notifyingTrigger('social', 'friendship', 'timelines_friendship_added', 'insert', 'timelines'),
    notifyingTrigger('social', 'friendship', 'timelines_friendship_gone', 'delete', 'timelines'),
    notifyingTrigger('social', 'friendship', 'friendship_added', 'insert'),
    notifyingTrigger('social', 'friendship', 'friendship_changed', 'update'),
    notifyingTrigger('social', 'friendship', 'friendship_gone', 'delete'),
  ],
});

export const socialEntities = [FriendRequestEntity, FriendshipEntity];
