// The messages domain's tables, in the `messages` PostgreSQL schema: conversations, who is in
// them (with each one's read marker), and their messages. Accounts live in another domain, so
// account ids are plain uuids without foreign keys; a closed account's participant row stays,
// marked closed, so that its messages keep an author.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

export const ConversationEntity = defineEntity({
  name: 'Conversation',
  schema: 'messages',
  tableName: 'conversation',
  properties: {
    id: p.uuid().primary(),
    /** A digest of the sorted participant ids: one conversation per set of people. */
    participantKey: p.string().length(64).unique('conversation_participant_key_key'),
    // Milliseconds, like the JavaScript dates that keyset cursors carry.
    createdAt: p.datetime(3),
    /** The newest message's time, or createdAt before the first: lists are ordered by it. */
    lastActivityAt: p.datetime(3),
  },
});

export const ParticipantEntity = defineEntity({
  name: 'Participant',
  schema: 'messages',
  tableName: 'participant',
  properties: {
    conversation: () => p.manyToOne(ConversationEntity).primary().deleteRule('cascade'),
    accountId: p.uuid().primary(),
    /** Orders the participants as they were given when the conversation started. */
    position: p.smallint(),
    /** The read marker: the last message read, null before any. */
    lastReadMessageId: p.uuid().nullable(),
    /** The marker's version (optimistic concurrency for `PUT .../marker`). */
    markerVersion: p.integer(),
    /** Set when the account is closed; its messages stay. */
    closedAt: p.datetime(3).nullable(),
  },
  indexes: [
    // A caller's conversations; marking a closed account's rows.
    { name: 'participant_account_id_index', properties: ['accountId'] },
  ],
  // Invalidate the participants every instance keeps in memory (Migration20261205110100).
  triggers: [
    notifyingTrigger('messages', 'participant', 'participant_added', 'insert'),
    notifyingTrigger('messages', 'participant', 'participant_changed', 'update'),
    notifyingTrigger('messages', 'participant', 'participant_gone', 'delete'),
  ],
});

export const MessageEntity = defineEntity({
  name: 'Message',
  schema: 'messages',
  tableName: 'message',
  properties: {
    id: p.uuid().primary(),
    conversation: () => p.manyToOne(ConversationEntity).deleteRule('cascade'),
    authorId: p.uuid(),
    text: p.string().length(5000),
    createdAt: p.datetime(3),
    // The writing transaction's id and a sequence: the live stream delivers a conversation's
    // messages in (txid, seq) order, once the transaction is older than every running one
    // (src/persistence/stream-rows.ts).
    txid: p.string().columnType('xid8').defaultRaw('pg_current_xact_id()'),
    seq: p.bigint().autoincrement(),
  },
  indexes: [
    // A participant's live stream reads each of its conversations in (txid, seq) order after its position.
    { name: 'message_conversation_id_txid_seq_index', properties: ['conversation', 'txid', 'seq'] },
    // A conversation's messages newest first (ids are UUIDv7: they sort by creation), its last
    // message, and the unread count after a marker.
    { name: 'message_conversation_id_id_index', properties: ['conversation', 'id'] },
  ],
});

export const messagesEntities = [ConversationEntity, ParticipantEntity, MessageEntity];
