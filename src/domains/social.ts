// The social graph: friend requests and friendships (schema `social`).
import { friendsAllowedMethods, friendsHandlers } from '../handlers/friends.ts';
import { Migration20261123211505 } from '../persistence/migrations/Migration20261123211505.ts';
import { Migration20261205110000 } from '../persistence/migrations/Migration20261205110000.ts';
import { socialEntities } from '../persistence/social/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import { createSocialDomain } from '../services/social/index.ts';
import { socialBinding, socialContract, socialStub } from '../remote/social.ts';
import { defineDomain } from './domain.ts';

export const social = defineDomain({
  name: 'social',
  needs: ['accounts'],
  entities: socialEntities,
  migrations: { Migration20261123211505, Migration20261205110000 },
  // Friendships that began or ended ("fr"): Migration20261205110000's triggers.
  cacheTopics: ['fr'],
  create: ({ database, config, events, caching }, { accounts }: { accounts: AccountsService }) =>
    createSocialDomain(database, accounts, { maxPage: config.maxPage, friendshipCacheEntries: config.social.friendshipCacheEntries }, events, caching),
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
