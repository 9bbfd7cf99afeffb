// The live stream (GET /v1/stream): the caller's new notifications and messages, as they are
// committed on any instance. It owns no data: its sources are the notifications and messages
// domains' rows, read through their services. It is carried across instances by the
// composition root's invalidation listener (DomainContext.streams).
import { streamAllowedMethods, streamHandlers } from '../handlers/stream.ts';
import type { MessagesService } from '../services/messages/index.ts';
import type { NotificationsService } from '../services/notifications/index.ts';
import { createStreamDomain, type StreamService } from '../services/stream/index.ts';
import { streamBinding, streamContract, streamStub } from '../remote/stream.ts';
import { defineDomain } from './domain.ts';

export const stream = defineDomain({
  name: 'stream',
  needs: ['notifications', 'messages'],
  entities: [],
  migrations: {},
  create: ({ config, streams }, { notifications, messages }: { notifications: NotificationsService; messages: MessagesService }) => {
    const domain = createStreamDomain(streams, {
      maxPerAccount: config.stream.maxPerAccount,
      retryAfterSeconds: config.pressure.retryAfterSeconds,
    });
    // The recipient's notifications (the `Notification` of GET /notifications).
    domain.stream.register({
      type: 'notification',
      key: 'n',
      since: (accountId, after, limit) => notifications.streamSince(accountId, after, limit),
      tail: (accountId) => notifications.streamTail(accountId),
    });
    // The messages of every conversation the account is in, its own included (its other sessions).
    domain.stream.register({
      type: 'message',
      key: 'm',
      since: (accountId, after, limit) => messages.streamSince(accountId, after, limit),
      tail: (accountId) => messages.streamTail(accountId),
    });
    const service: { stream: StreamService } = domain;
    return service;
  },
  handlers: ({ stream }) => ({
    v1: streamHandlers(stream),
    allowedMethods: streamAllowedMethods(),
  }),
  // Served apart with SERVE_DOMAINS=stream (it reads its sources and holds the per-account cap
  // there); used through the stub with STREAM_SERVICE_URL.
  remote: {
    contract: streamContract,
    serve: ({ stream }) => streamBinding(stream),
    stub: (client) => ({ stream: streamStub(client) }),
  },
});
