// The notifications domain's public API: what recipients do with their notifications, and the
// consumers that make them from other domains' events. Everything else in this folder is
// private to it.
import type { Orm } from '../../persistence/db.ts';
import { NotificationsStore, ormDatabase } from '../../persistence/notifications/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { ChannelsService } from '../channels/index.ts';
import type { DomainEvents } from '../events.ts';
import type { NotificationsSettings } from './model.ts';
import { NotificationsService } from './notifications-service.ts';

export type { NotificationsService } from './notifications-service.ts';
export { CHANNEL_FAN_OUT_LIMIT, GROUP_SAMPLE_ACCOUNTS, UNREAD_CAP } from './notifications-service.ts';
export { NOTIFICATION_TYPES } from './model.ts';
export type {
  FriendRequestAccepted,
  FriendRequestReceived,
  ListNotificationsRequest,
  Marker,
  MessageSent,
  Notification,
  NotificationGroup,
  NotificationType,
  NotificationsSettings,
  PostPublished,
} from './model.ts';

export function createNotificationsDomain(orm: Orm, others: { accounts: AccountsService; channels: ChannelsService }, settings: NotificationsSettings) {
  // ormDatabase: the store's plain-SQL `Database`, over the ORM until the stores share one (see its file).
  return { notifications: new NotificationsService(new NotificationsStore(ormDatabase(orm)), others, settings) };
}

/**
 * The events the notifications domain consumes, each by one idempotent service method. In
 * process for now; a job queue would enqueue the same payloads with the write and call the
 * same methods.
 */
export function subscribeNotifications(events: DomainEvents, notifications: NotificationsService): void {
  events.on('friendRequest.created', (e) => notifications.onFriendRequestReceived(e));
  events.on('friendRequest.accepted', (e) => notifications.onFriendRequestAccepted(e));
  events.on('post.published', (e) => notifications.onPostPublished(e));
  events.on('message.sent', (e) => notifications.onMessageSent(e));
  events.on('account.closed', ({ accountId }) => notifications.forgetAccount(accountId));
  events.on('channels.deleted', ({ channelIds }) => notifications.forgetChannels(channelIds));
}
