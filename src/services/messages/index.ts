// The messages domain's public API: direct messages between friends (conversations, messages,
// read markers). Everything else in this folder is private to it.
import type { Orm } from '../../persistence/db.ts';
import { MessagesStore, databaseFromOrm } from '../../persistence/messages/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { DomainEvents } from '../events.ts';
import type { SocialService } from '../social/index.ts';
import { MessagesService } from './messages-service.ts';
import type { MessagesSettings } from './model.ts';

export type { MessagesService } from './messages-service.ts';
export type { Conversation, Marker, Message, MessagesSettings, NewConversation, NewMessage, PageRequest, Participant } from './model.ts';

/** Closing an account keeps its messages: it stays in its conversations, shown as closed. */
export function createMessagesDomain(orm: Orm, others: { accounts: AccountsService; social: SocialService }, settings: MessagesSettings, events: DomainEvents) {
  const messages = new MessagesService(new MessagesStore(databaseFromOrm(orm)), others, settings, events);
  events.on('account.closed', ({ accountId }) => messages.forgetAccount(accountId));
  return { messages };
}
