// Notifications: what happened that concerns an account, made by durable consumers of other
// domains' events (schema `notifications`; queue `events.notifications`).
import { notificationsAllowedMethods, notificationsHandlers } from '../handlers/notifications.ts';
import { Migration20261202073755 } from '../persistence/migrations/Migration20261202073755.ts';
import { Migration20261202084847 } from '../persistence/migrations/Migration20261202084847.ts';
import { Migration20261203200000 } from '../persistence/migrations/Migration20261203200000.ts';
import { Migration20261203210000 } from '../persistence/migrations/Migration20261203210000.ts';
import { Migration20261203220000 } from '../persistence/migrations/Migration20261203220000.ts';
import { notificationsEntities } from '../persistence/notifications/index.ts';
import type { AccountsService } from '../services/accounts/index.ts';
import type { ChannelsService } from '../services/channels/index.ts';
import { concernsNotifications, createNotificationsDomain } from '../services/notifications/index.ts';
import { notificationsBinding, notificationsContract, notificationsStub } from '../remote/notifications.ts';
import { defineDomain } from './domain.ts';

export const notifications = defineDomain({
  name: 'notifications',
  needs: ['accounts', 'channels'],
  entities: notificationsEntities,
  migrations: { Migration20261202073755, Migration20261202084847, Migration20261203200000, Migration20261203210000, Migration20261203220000 },
  create: ({ database, config }, others: { accounts: AccountsService; channels: ChannelsService }) =>
    createNotificationsDomain(database, others, { maxPage: config.maxPage }),
  handlers: ({ notifications }) => ({
    v1: notificationsHandlers(notifications),
    allowedMethods: notificationsAllowedMethods(notifications),
  }),
  // Served apart with SERVE_DOMAINS=notifications; used through the stub with NOTIFICATIONS_SERVICE_URL
  // (the consumers below then run where the job queue's worker is, and call the domain server).
  remote: {
    contract: notificationsContract,
    serve: ({ notifications }) => notificationsBinding(notifications),
    stub: (client) => ({ notifications: notificationsStub(client) }),
  },
  subscribe: (events, { notifications }) => {
    // Durable: each publication is a job of the `events.notifications` queue (created by
    // Migration20261202090000), run by a worker in the job's unit of work.
    events.consume('friendRequest.created', 'notifications', (e, uow) => notifications.onFriendRequestReceived(e, uow));
    events.consume('friendRequest.accepted', 'notifications', (e, uow) => notifications.onFriendRequestAccepted(e, uow));
    events.consume('post.published', 'notifications', (e, uow) => notifications.onPostPublished(e, uow), { when: concernsNotifications });
    // A message's notices are written holding its conversation's lock: a batch of these jobs
    // takes its conversations' locks in order, and one conversation's messages in the order they
    // were sent (their ids are time-ordered). A batch's message.sent jobs are written together,
    // in one statement that takes their conversations' locks in that order.
    events.consume('message.sent', 'notifications', (e, uow) => notifications.onMessageSent(e, uow), {
      orderKey: (e) => `${e.conversationId}/${e.messageId}`,
      many: (sent, uow) => notifications.onMessagesSent(sent, uow),
    });
    // Clean-ups: done before the closing or deleting request answers, and again by a job of the
    // same queue, which the deletion enqueued with itself (so they are done even if this process
    // dies first, or the domain server is down then). A clean-up writes outside its job's
    // transaction, and a message's takes its conversation's lock: it has no order key, so that in
    // a batch it runs before any message.sent job takes a lock the clean-up would wait for.
    events.cleanUp('account.closed', 'notifications', ({ accountId }) => notifications.forgetAccount(accountId));
    events.cleanUp('channels.deleted', 'notifications', ({ channelIds }) => notifications.forgetChannels(channelIds));
    events.cleanUp('post.deleted', 'notifications', ({ postId }) => notifications.forgetPosts([postId]));
    events.cleanUp('message.deleted', 'notifications', (event) => notifications.onMessageDeleted(event));
  },
});
