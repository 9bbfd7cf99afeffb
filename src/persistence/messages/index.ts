// The messages domain's persistence API: rows in, rows out. No business rules here.
export { MessagesStore } from './store.ts';
export type { ConversationRow, ListConversationsQuery, ListMessagesQuery, MarkerOutcome, MarkerRow, MessageRow, MessageSuccessor, NewConversationRow, ParticipantRow } from './store.ts';
export { messagesEntities } from './entities.ts';
