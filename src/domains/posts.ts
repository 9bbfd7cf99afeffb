// Posts: general and channel posts (schema `posts`); version 2 of the API serves them too. Feeds
// are the timelines domain's.
import { channelPostsAllowedMethods, channelPostsHandlers } from '../handlers/channels.ts';
import { postsAllowedMethods, postsHandlers } from '../handlers/posts.ts';
import { postsHandlersV2 } from '../handlers/v2/posts.ts';
import { Migration20261123212515 } from '../persistence/migrations/Migration20261123212515.ts';
import { Migration20261203120000 } from '../persistence/migrations/Migration20261203120000.ts';
import { postsEntities } from '../persistence/posts/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import type { ChannelsService } from '../services/channels/index.ts';
import { createPostsDomain } from '../services/posts/index.ts';
import { postsBinding, postsContract, postsStub } from '../remote/posts.ts';
import { defineDomain } from './domain.ts';

const MiB = 1024 * 1024;

export const posts = defineDomain({
  name: 'posts',
  needs: ['accounts', 'channels'],
  entities: postsEntities,
  migrations: { Migration20261123212515, Migration20261203120000 },
  // Posts that changed or went ("o"), channels with new posts ("oc"), and the table emptied ("o!"):
  // Migration20261203120000's triggers.
  cacheTopics: ['o', 'oc', 'o!'],
  create: ({ database, config, events, caching }, others: { accounts: AccountsService; channels: ChannelsService }) =>
    createPostsDomain(database, others, { maxPage: config.maxPage, cacheBytes: config.posts.cacheMb * MiB, channelPageCacheBytes: config.posts.channelPageCacheMb * MiB }, events, caching),
  handlers: ({ posts, accounts }) => ({
    v1: { ...postsHandlers(posts), ...channelPostsHandlers(posts) },
    v2: postsHandlersV2(posts),
    allowedMethods: { ...postsAllowedMethods(posts, accounts), ...channelPostsAllowedMethods(posts) },
  }),
  // Served apart with SERVE_DOMAINS=posts; used through the stub with POSTS_SERVICE_URL.
  remote: {
    contract: postsContract,
    serve: ({ posts }) => postsBinding(posts),
    stub: (client) => ({ posts: postsStub(client) }),
  },
  subscribe: (events, { posts }) => {
    events.cleanUp('account.closed', 'posts', ({ accountId }) => posts.forgetAuthor(accountId));
    events.cleanUp('channels.deleted', 'posts', ({ channelIds }) => posts.forgetChannels(channelIds));
  },
});
