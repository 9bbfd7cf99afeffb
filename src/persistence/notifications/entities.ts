// The notifications domain's tables, in the `notifications` PostgreSQL schema. Recipients,
// actors and subjects (posts, channels, conversations, friend requests) live in other domains,
// so their ids are plain uuids without foreign keys.
import { defineEntity, p } from '@mikro-orm/core';

export const NotificationEntity = defineEntity({
  name: 'Notification',
  schema: 'notifications',
  tableName: 'notification',
  properties: {
    id: p.uuid().primary(),
    // The position: lists page by it, the marker points at it, and a live stream's event ids
    // can be it. Assigned by PostgreSQL at insert, so it grows in commit-near order across
    // every instance (a uuid made by one instance's clock would not).
    seq: p.bigint().autoincrement(),
    // The writing transaction's id: the live stream delivers in (txid, seq) order, once the
    // transaction is older than every running one (src/persistence/stream-rows.ts).
    txid: p.string().columnType('xid8').defaultRaw('pg_current_xact_id()'),
    recipientId: p.uuid(),
    type: p.string().length(32),
    actorId: p.uuid(),
    postId: p.uuid().nullable(),
    channelId: p.uuid().nullable(),
    conversationId: p.uuid().nullable(),
    messageId: p.uuid().nullable(),
    friendRequestId: p.uuid().nullable(),
    groupKey: p.string().length(100),
    // What caused it (`post:<id>`, `friendRequest:<id>`…): a consumer that runs twice for the
    // same cause inserts nothing the second time.
    sourceKey: p.string().length(100),
    createdAt: p.datetime(3),
  },
  uniques: [{ name: 'notification_recipient_id_source_key_key', properties: ['recipientId', 'sourceKey'] }],
  indexes: [
    // Every list, count and group is one recipient's range in position order.
    { name: 'notification_recipient_id_seq_index', properties: ['recipientId', 'seq'] },
    // A recipient's live stream reads in (txid, seq) order after its position.
    { name: 'notification_recipient_id_txid_seq_index', properties: ['recipientId', 'txid', 'seq'] },
    // Closing an account removes what it caused in others' lists; deleting a channel, what was about it.
    { name: 'notification_actor_id_index', properties: ['actorId'] },
    { name: 'notification_channel_id_index', properties: ['channelId'] },
    // Deleting a post removes its notifications.
    { name: 'notification_post_id_index', properties: ['postId'] },
    // Deleting a message renames or removes the notices that name it.
    { name: 'notification_message_id_index', properties: ['messageId'] },
  ],
});

/** How far each account has read its notifications. */
export const NotificationMarkerEntity = defineEntity({
  name: 'NotificationMarker',
  schema: 'notifications',
  tableName: 'marker',
  properties: {
    accountId: p.uuid().primary(),
    lastReadSeq: p.bigint(),
    lastReadId: p.uuid(),
    version: p.integer(),
    updatedAt: p.datetime(3),
  },
});

/**
 * The source keys (`post:<id>`, `message:<id>`) of what was deleted, kept a week: a job that runs
 * after the deletion inserts no notification about it (Migration20261203220000).
 */
export const ForgottenSourceEntity = defineEntity({
  name: 'ForgottenSource',
  schema: 'notifications',
  tableName: 'forgotten',
  properties: {
    sourceKey: p.string().length(100).primary(),
    forgottenAt: p.datetime(3),
  },
  indexes: [{ name: 'forgotten_forgotten_at_index', properties: ['forgottenAt'] }],
});

export const notificationsEntities = [NotificationEntity, NotificationMarkerEntity, ForgottenSourceEntity];
