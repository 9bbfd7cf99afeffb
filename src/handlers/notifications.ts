// operationIds tagged `notifications`.
import type { Marker, Notification, NotificationGroup, NotificationType, NotificationsService } from '../services/notifications/index.ts';
import { signedIn } from '../services/accounts/index.ts';
import { DEFAULT_LIMIT } from './paging.ts';
import { etag } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers, Schemas } from './operations.ts';
import { accountSummaryView } from './views.ts';
import { isoTime } from './iso-time.ts';

export function notificationView(notification: Notification): Schemas['Notification'] {
  return {
    id: notification.id,
    type: notification.type,
    createdAt: isoTime(notification.createdAt),
    actor: accountSummaryView(notification.actor),
    groupKey: notification.groupKey,
    postId: notification.postId,
    channelId: notification.channelId,
    conversationId: notification.conversationId,
    friendRequestId: notification.friendRequestId,
  };
}

function groupView(group: NotificationGroup): Schemas['NotificationGroup'] {
  return {
    groupKey: group.groupKey,
    type: group.type,
    count: group.count,
    sampleAccounts: group.sampleAccounts.map(accountSummaryView),
    latest: notificationView(group.latest),
    newestAt: isoTime(group.newestAt),
    oldestAt: isoTime(group.oldestAt),
  };
}

function markerView(marker: Marker): Schemas['NotificationMarker'] {
  return { lastReadId: marker.lastReadId, unreadCount: marker.unreadCount, version: marker.version };
}

/** The list arguments; `types` is comma-separated, its values checked by the contract. */
function listRequest(query: { types?: string; limit?: number; cursor?: string; page?: number }) {
  const types = query.types === undefined ? undefined : ([...new Set(query.types.split(','))] as NotificationType[]);
  return { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor, page: query.page, types };
}

export function notificationsHandlers(notifications: NotificationsService) {
  return {
    async listNotifications({ query, caller }) {
      const page = await notifications.list(signedIn(caller), listRequest(query));
      return { status: 200, body: { data: page.items.map(notificationView), nextCursor: page.nextCursor } };
    },

    async listNotificationGroups({ query, caller }) {
      const page = await notifications.listGroups(signedIn(caller), listRequest(query));
      return { status: 200, body: { data: page.items.map(groupView), nextCursor: page.nextCursor } };
    },

    async getNotificationMarker({ caller }) {
      const marker = await notifications.marker(signedIn(caller));
      return { status: 200, body: markerView(marker), headers: { etag: etag(marker.version) } };
    },

    async updateNotificationMarker({ expectedVersion, body, caller }) {
      const marker = await notifications.moveMarker(signedIn(caller), body.lastReadId.toLowerCase(), expectedVersion);
      return { status: 200, body: markerView(marker), headers: { etag: etag(marker.version) } };
    },

    async deleteNotification({ path, caller }) {
      await notifications.dismiss(signedIn(caller), path.notificationId);
      return { status: 204 };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to notifications: each account to its own, nobody to anybody else's. */
export function notificationsAllowedMethods(notifications: NotificationsService) {
  return permissions({
    async '/notifications'({ caller }) {
      signedIn(caller);
      return ['GET'];
    },
    async '/notifications/groups'({ caller }) {
      signedIn(caller);
      return ['GET'];
    },
    async '/notifications/marker'({ caller }) {
      signedIn(caller);
      return ['GET', 'PUT'];
    },
    async '/notifications/{notificationId}'({ path, caller }) {
      const may = await notifications.permissions(signedIn(caller), path.notificationId);
      return when(may.delete, 'DELETE');
    },
  });
}
