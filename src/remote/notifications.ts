// The notifications domain served apart: its service interface (NotificationsService) over the
// internal contract internal/notifications.openapi.yaml, whose generated operations type both
// sides. `agree` below fails the build when the interface and the contract disagree, in either
// direction. The live stream's positions are 64-bit: they cross as decimal strings.
import type { operations } from '../../generated/internal/notifications.d.ts';
import type { Notification, NotificationGroup, NotificationsService, StreamPosition } from '../services/notifications/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf, type Wire } from './wire.ts';

agree<NotificationsService, operations>(true);

/** The notifications domain's internal contract. */
export const notificationsContract = new URL('../../internal/notifications.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;

const notification = (wire: Wire<Notification>): Notification => ({ ...wire, createdAt: new Date(wire.createdAt) });
const group = (wire: Wire<NotificationGroup>): NotificationGroup => ({
  ...wire,
  latest: notification(wire.latest),
  newestAt: new Date(wire.newestAt),
  oldestAt: new Date(wire.oldestAt),
});
const position = (wire: Wire<StreamPosition>): StreamPosition => ({ txid: BigInt(wire.txid), seq: BigInt(wire.seq) });
const wirePosition = (at: StreamPosition): Wire<StreamPosition> => ({ txid: at.txid.toString(), seq: at.seq.toString() });

/** NotificationsService, by calling a domain server (NOTIFICATIONS_SERVICE_URL). */
export function notificationsStub(client: RemoteClient<operations>): NotificationsService {
  return {
    async onFriendRequestReceived(event, uow) {
      await client.call('onFriendRequestReceived', [event], { unitOfWork: uow });
    },
    async onFriendRequestAccepted(event, uow) {
      await client.call('onFriendRequestAccepted', [event], { unitOfWork: uow });
    },
    async onPostPublished(event, uow) {
      await client.call('onPostPublished', [event], { unitOfWork: uow });
    },
    async onMessageSent(event, uow) {
      await client.call('onMessageSent', [event], { unitOfWork: uow });
    },
    async onMessagesSent(events, uow) {
      await client.call('onMessagesSent', [events], { unitOfWork: uow });
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
    async forgetChannels(channelIds) {
      await client.call('forgetChannels', [channelIds]);
    },
    async forgetPosts(postIds) {
      await client.call('forgetPosts', [postIds]);
    },
    async onMessageDeleted(event) {
      await client.call('onMessageDeleted', [event]);
    },
    async list(caller, request) {
      const page = await client.call('list', [caller, request]);
      return { items: page.items.map(notification), nextCursor: page.nextCursor };
    },
    async listGroups(caller, request) {
      const page = await client.call('listGroups', [caller, request]);
      return { items: page.items.map(group), nextCursor: page.nextCursor };
    },
    async marker(caller) {
      return client.call('marker', [caller]);
    },
    async moveMarker(caller, lastReadId, expectedVersion) {
      return client.call('moveMarker', [caller, lastReadId, expectedVersion ?? null]);
    },
    async dismiss(caller, notificationId) {
      await client.call('dismiss', [caller, notificationId]);
    },
    async permissions(caller, notificationId) {
      return client.call('permissions', [caller, notificationId]);
    },
    async streamSince(recipientId, after, limit) {
      const page = await client.call('streamSince', [recipientId, wirePosition(after), limit]);
      return {
        events: page.events.map((event) => ({ position: position(event.position), data: event.data === undefined ? undefined : notification(event.data) })),
        pending: page.pending,
      };
    },
    async streamTail(recipientId) {
      return position(await client.call('streamTail', [recipientId]));
    },
  };
}

/** The internal API over the notifications service of this process (SERVE_DOMAINS=notifications). */
export function notificationsBinding(notifications: NotificationsService): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    onFriendRequestReceived: { keyed: true, run: ([event], uow) => notifications.onFriendRequestReceived(event, uow) },
    onFriendRequestAccepted: { keyed: true, run: ([event], uow) => notifications.onFriendRequestAccepted(event, uow) },
    onPostPublished: { keyed: true, run: ([event], uow) => notifications.onPostPublished(event, uow) },
    onMessageSent: { keyed: true, run: ([event], uow) => notifications.onMessageSent(event, uow) },
    onMessagesSent: { keyed: true, run: ([events], uow) => notifications.onMessagesSent(events, uow) },
    forgetAccount: { keyed: false, run: ([accountId]) => notifications.forgetAccount(accountId) },
    forgetChannels: { keyed: false, run: ([channelIds]) => notifications.forgetChannels(channelIds) },
    forgetPosts: { keyed: false, run: ([postIds]) => notifications.forgetPosts(postIds) },
    onMessageDeleted: { keyed: false, run: ([event]) => notifications.onMessageDeleted(event) },
    list: { keyed: false, run: ([caller, request]) => notifications.list(caller, request) },
    listGroups: { keyed: false, run: ([caller, request]) => notifications.listGroups(caller, request) },
    marker: { keyed: false, run: ([caller]) => notifications.marker(caller) },
    moveMarker: { keyed: false, run: ([caller, lastReadId, expectedVersion]) => notifications.moveMarker(caller, lastReadId, expectedVersion ?? undefined) },
    dismiss: { keyed: false, run: ([caller, notificationId]) => notifications.dismiss(caller, notificationId) },
    permissions: { keyed: false, run: ([caller, notificationId]) => notifications.permissions(caller, notificationId) },
    streamSince: { keyed: false, run: ([recipientId, after, limit]) => notifications.streamSince(recipientId, position(after), limit).then(wireStreamPage) },
    streamTail: { keyed: false, run: ([recipientId]) => notifications.streamTail(recipientId).then(wirePosition) },
  };
  return { target: 'notifications', contract: notificationsContract, operations };
}

/** A stream page as JSON carries it (JSON.stringify cannot write a bigint). */
function wireStreamPage(page: Awaited<ReturnType<NotificationsService['streamSince']>>) {
  return { events: page.events.map((event) => ({ position: wirePosition(event.position), data: event.data })), pending: page.pending };
}
