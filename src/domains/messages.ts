// Direct messages: conversations between friends, their messages and read markers (schema `messages`).
import { conversationsAllowedMethods, conversationsHandlers } from '../handlers/conversations.ts';
import { messagesEntities } from '../persistence/messages/index.ts';
import { Migration20261202073214 } from '../persistence/migrations/Migration20261202073214.ts';
import { Migration20261202084846 } from '../persistence/migrations/Migration20261202084846.ts';
import { Migration20261205110100 } from '../persistence/migrations/Migration20261205110100.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import { createMessagesDomain } from '../services/messages/index.ts';
import { messagesBinding, messagesContract, messagesStub } from '../remote/messages.ts';
import type { SocialService } from '../services/social/index.ts';
import { defineDomain } from './domain.ts';

export const messages = defineDomain({
  name: 'messages',
  needs: ['accounts', 'social'],
  entities: messagesEntities,
  migrations: { Migration20261202073214, Migration20261202084846, Migration20261205110100 },
  // Conversations whose participants changed ("mp"): Migration20261205110100's triggers.
  cacheTopics: ['mp'],
  create: ({ database, config, events, caching }, others: { accounts: AccountsService; social: SocialService }) =>
    createMessagesDomain(database, others, { maxPage: config.maxPage, participantCacheEntries: config.messages.participantCacheEntries }, events, caching),
  handlers: ({ messages }) => ({
    v1: conversationsHandlers(messages),
    allowedMethods: conversationsAllowedMethods(messages),
  }),
  // Served apart with SERVE_DOMAINS=messages; used through the stub with MESSAGES_SERVICE_URL.
  remote: {
    contract: messagesContract,
    serve: ({ messages }) => messagesBinding(messages),
    stub: (client) => ({ messages: messagesStub(client) }),
  },
  subscribe: (events, { messages }) => {
    // Closing an account keeps its messages: it stays in its conversations, shown as closed.
    events.cleanUp('account.closed', 'messages', ({ accountId }) => messages.forgetAccount(accountId));
  },
});
