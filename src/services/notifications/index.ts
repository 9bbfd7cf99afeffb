// The notifications domain's public API: what recipients do with their notifications, and the
// consumers that make them from other domains' events. Everything else in this folder is
// private to it.
import { NotificationsStore } from '../../persistence/notifications/index.ts';
import type { Database } from '../../persistence/sql.ts';
import type { AccountsService } from '../accounts/index.ts';
import type { ChannelsService } from '../channels/index.ts';
import type { NotificationsSettings } from './model.ts';
import { NotificationsInbox, type NotificationsService } from './notifications-service.ts';

export type { NotificationsService, StreamPosition } from './notifications-service.ts';
export { CHANNEL_FAN_OUT_LIMIT, GROUP_SAMPLE_ACCOUNTS, UNREAD_CAP } from './notifications-service.ts';
export { NOTIFICATION_TYPES } from './model.ts';
export { concernsNotifications } from './mentions.ts';
export type {
  FriendRequestAccepted,
  FriendRequestReceived,
  ListNotificationsRequest,
  Marker,
  MessageDeleted,
  MessageSent,
  Notification,
  NotificationGroup,
  NotificationType,
  NotificationsSettings,
  PostPublished,
} from './model.ts';

export function createNotificationsDomain(
  database: Database,
  others: { accounts: AccountsService; channels: ChannelsService },
  settings: NotificationsSettings,
): { notifications: NotificationsService } {
  return { notifications: new NotificationsInbox(new NotificationsStore(database), others, settings) };
}
