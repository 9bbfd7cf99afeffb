// Timelines: each reader's home timeline, materialized on write by the worker's fan-out, and the
// feed read from it (schema `timelines`). It reads the posts and friendships it is made from
// and changes nothing of theirs: the posts and social domains do not know it exists.
import { timelinesAllowedMethods, timelinesHandlers, timelinesHandlersV2 } from '../handlers/timelines.ts';
import { Migration20261202110000 } from '../persistence/migrations/Migration20261202110000.ts';
import { Migration20261202220000 } from '../persistence/migrations/Migration20261202220000.ts';
import { Migration20261205230000 } from '../persistence/migrations/Migration20261205230000.ts';
import { Migration20261207140000 } from '../persistence/migrations/Migration20261207140000.ts';
import { timelinesEntities } from '../persistence/timelines/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import type { SocialService } from '../services/social/index.ts';
import { createTimelinesDomain } from '../services/timelines/index.ts';
import { timelinesBinding, timelinesContract, timelinesStub } from '../remote/timelines.ts';
import { defineDomain } from './domain.ts';

export const timelines = defineDomain({
  name: 'timelines',
  needs: ['accounts', 'social'],
  entities: timelinesEntities,
  migrations: { Migration20261202110000, Migration20261202220000, Migration20261205230000, Migration20261207140000 },
  // The feed pages kept in memory, evicted by Migration20261202220000's notifications ("n:" is
  // the fan-out pass's since Migration20261205230000).
  cacheTopics: ['f', 'n', 'p', 'h', 'k'],
  create: ({ database, config, caching, events }, others: { accounts: AccountsService; social: SocialService }) =>
    createTimelinesDomain(database, others, {
      maxPage: config.maxPage,
      length: config.timelines.length,
      wideFriends: config.timelines.wideFriends,
      fanOutIntervalMs: config.timelines.fanOutIntervalMs,
      freshMs: config.timelines.freshMs,
      cachePages: config.timelines.cachePages,
      cacheBytes: config.timelines.cacheMb * 1024 * 1024,
      windowMs: 2000,
      graceMs: 60_000,
      forgetIntervalMs: 15_000,
      trimIntervalMs: 10_000,
      batch: 2000,
    }, caching, events),
  handlers: ({ timelines }) => ({
    v1: timelinesHandlers(timelines),
    v2: timelinesHandlersV2(timelines),
    allowedMethods: timelinesAllowedMethods(),
  }),
  // Served apart with SERVE_DOMAINS=timelines; used through the stub with TIMELINES_SERVICE_URL.
  // The fan-out then runs in the timelines server's workers (the stub's startFanOut runs nothing).
  remote: {
    contract: timelinesContract,
    serve: ({ timelines }) => timelinesBinding(timelines),
    stub: (client) => ({ timelines: timelinesStub(client) }),
  },
  subscribe: (events, { timelines }) => {
    // Durable: a job of the `events.timelines` queue (created by Migration20261202110000).
    events.consume('friendRequest.accepted', 'timelines', (e, uow) => timelines.onFriendRequestAccepted(e, uow));
    events.cleanUp('account.closed', 'timelines', ({ accountId }) => timelines.forgetAccount(accountId));
  },
});
