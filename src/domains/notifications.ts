// Notifications: what happened that concerns an account, made from other domains' events
// (schema `notifications`).
import { notificationsAllowedMethods, notificationsHandlers } from '../handlers/notifications.ts';
import { Migration20261202073755 } from '../persistence/migrations/Migration20261202073755.ts';
import { Migration20261202084847 } from '../persistence/migrations/Migration20261202084847.ts';
import { notificationsEntities } from '../persistence/notifications/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import type { ChannelsService } from '../services/channels/index.ts';
import { createNotificationsDomain } from '../services/notifications/index.ts';
import { defineDomain } from './domain.ts';

export const notifications = defineDomain({
  name: 'notifications',
  needs: ['accounts', 'channels'],
  entities: notificationsEntities,
  migrations: { Migration20261202073755, Migration20261202084847 },
  create: ({ database, config }, others: { accounts: AccountsService; channels: ChannelsService }) =>
    createNotificationsDomain(database, others, { maxPage: config.maxPage }),
  handlers: ({ notifications }) => ({
    v1: notificationsHandlers(notifications),
    allowedMethods: notificationsAllowedMethods(notifications),
  }),
  subscribe: (events, { notifications }) => {
    events.on('friendRequest.created', (e) => notifications.onFriendRequestReceived(e));
    events.on('friendRequest.accepted', (e) => notifications.onFriendRequestAccepted(e));
    events.on('post.published', (e) => notifications.onPostPublished(e));
    events.on('message.sent', (e) => notifications.onMessageSent(e));
    events.on('account.closed', ({ accountId }) => notifications.forgetAccount(accountId));
    events.on('channels.deleted', ({ channelIds }) => notifications.forgetChannels(channelIds));
  },
});
