// The messages domain's public API: direct messages between friends (conversations, messages,
// read markers). Everything else in this folder is private to it.
import { MessagesStore } from '../../persistence/messages/index.ts';
import type { Database } from '../../persistence/sql.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { Caching } from '../cache.ts';
import type { DomainEvents } from '../events.ts';
import type { SocialService } from '../social/index.ts';
import { DirectMessages, type MessagesService } from './messages-service.ts';
import type { MessagesSettings } from './model.ts';

export type { MessagesService, StreamPosition } from './messages-service.ts';
export type { MessageSent } from './events.ts';
export type { Conversation, Marker, Message, MessagesSettings, NewConversation, NewMessage, PageRequest, Participant } from './model.ts';

export function createMessagesDomain(
  database: Database,
  others: { accounts: AccountsService; social: SocialService },
  settings: MessagesSettings,
  events: DomainEvents,
  caching?: Caching,
): { messages: MessagesService } {
  return { messages: new DirectMessages(new MessagesStore(database), others, settings, events, undefined, caching) };
}
