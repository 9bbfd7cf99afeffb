// operationIds tagged `stream`.
import { signedIn } from '../services/accounts/index.ts';
import { InvalidInput } from '../services/errors.ts';
import type { Message } from '../services/messages/index.ts';
import type { Notification } from '../services/notifications/index.ts';
import { TooManyStreams, type LiveStream, type StreamService } from '../services/stream/index.ts';
import { permissions } from './allowed.ts';
import { messageView } from './conversations.ts';
import { notificationView } from './notifications.ts';
import type { EventSource, Handlers, SentEvent } from './operations.ts';
import { ApiProblem } from './problem.ts';

/**
 * How each event type's data shows: as the REST resource it is (`Notification`, `Message`).
 * A type without a view here (the stream's own `ready`, a source of the tests') is sent as its
 * source gives it.
 */
const VIEWS: Record<string, (data: never) => unknown> = {
  notification: (data: Notification) => notificationView(data),
  message: (data: Message) => messageView(data),
};

/** The stream's events, each shown as its contract's schema. */
function shown(stream: LiveStream): EventSource {
  return {
    async next(): Promise<IteratorResult<SentEvent>> {
      const next = await stream.next();
      if (next.done) return next;
      const view = VIEWS[next.value.event];
      return { done: false, value: view ? { ...next.value, data: view(next.value.data as never) } : next.value };
    },
    return: () => stream.return(),
  };
}

export function streamHandlers(stream: StreamService) {
  return {
    async getStream({ headers, caller }) {
      try {
        return { status: 200, events: shown(await stream.open(signedIn(caller), headers['last-event-id'])) };
      } catch (error) {
        // Too many streams is the caller's rate: the problem a rate limit answers with.
        if (error instanceof TooManyStreams) {
          throw new ApiProblem('rate-limited', error.message, { headers: { 'retry-after': String(error.retryAfterSeconds) } });
        }
        // The only input is the Last-Event-ID header.
        if (error instanceof InvalidInput) {
          throw new ApiProblem('validation-error', 'the request is not valid', {
            errors: error.errors.map((e) => ({ pointer: 'header/last-event-id', detail: e.detail })),
          });
        }
        throw error;
      }
    },
  } satisfies Partial<Handlers>;
}

/** A signed-in caller may read its own stream. */
export function streamAllowedMethods() {
  return permissions({
    async '/stream'({ caller }) {
      signedIn(caller);
      return ['GET'];
    },
  });
}
