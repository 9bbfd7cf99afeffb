// Channels and their memberships (schema `channels`). Channel posts are the posts domain's.
import { channelsAllowedMethods, channelsHandlers } from '../handlers/channels.ts';
import { channelsEntities } from '../persistence/channels/index.ts';
import { Migration20261123211816 } from '../persistence/migrations/Migration20261123211816.ts';
import { Migration20261124020000 } from '../persistence/migrations/Migration20261124020000.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import { createChannelsDomain } from '../services/channels/index.ts';
import { channelsBinding, channelsContract, channelsStub } from '../remote/channels.ts';
import { defineDomain } from './domain.ts';

export const channels = defineDomain({
  name: 'channels',
  needs: ['accounts'],
  entities: channelsEntities,
  migrations: { Migration20261123211816, Migration20261124020000 },
  // Channels that changed or went ("c"): Migration20261124020000's triggers.
  cacheTopics: ['c'],
  create: ({ database, config, events, caching }, { accounts }: { accounts: AccountsService }) =>
    createChannelsDomain(database, accounts, { maxPage: config.maxPage, cacheBytes: config.channels.cacheMb * 1024 * 1024 }, events, caching),
  handlers: ({ channels }) => ({
    v1: channelsHandlers(channels),
    allowedMethods: channelsAllowedMethods(channels),
  }),
  // Served apart with SERVE_DOMAINS=channels; used through the stub with CHANNELS_SERVICE_URL.
  remote: {
    contract: channelsContract,
    serve: ({ channels }) => channelsBinding(channels),
    stub: (client) => ({ channels: channelsStub(client) }),
  },
  subscribe: (events, { channels }) => {
    events.cleanUp('account.closed', 'channels', ({ accountId }) => channels.forgetAccount(accountId));
  },
});
