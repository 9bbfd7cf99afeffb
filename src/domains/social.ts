// The social graph: friend requests and friendships (schema `social`).
import { friendsAllowedMethods, friendsHandlers } from '../handlers/friends.ts';
import { Migration20261123211505 } from '../persistence/migrations/Migration20261123211505.ts';
import { socialEntities } from '../persistence/social/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import { createSocialDomain } from '../services/social/index.ts';
import { socialBinding, socialContract, socialStub } from '../remote/social.ts';
import { defineDomain } from './domain.ts';

export const social = defineDomain({
  name: 'social',
  needs: ['accounts'],
  entities: socialEntities,
  migrations: { Migration20261123211505 },
  create: ({ database, config, events }, { accounts }: { accounts: AccountsService }) => createSocialDomain(database, accounts, { maxPage: config.maxPage }, events),
  handlers: ({ social, accounts }) => ({
    v1: friendsHandlers(social, accounts),
    allowedMethods: friendsAllowedMethods(social, accounts),
  }),
  // Served apart with SERVE_DOMAINS=social; used through the stub with SOCIAL_SERVICE_URL.
  remote: {
    contract: socialContract,
    serve: ({ social }) => socialBinding(social),
    stub: (client) => ({ social: socialStub(client) }),
  },
  subscribe: (events, { social }) => {
    events.cleanUp('account.closed', 'social', ({ accountId }) => social.forgetAccount(accountId));
  },
});
