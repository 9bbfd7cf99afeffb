// operationIds tagged `stream`.
import { TooManyStreams, type StreamService } from '../services/stream/index.ts';
import { ServiceError } from '../services/errors.ts';
import { permissions } from './allowed.ts';
import { signedIn } from './caller.ts';
import type { Handlers } from './operations.ts';
import { ApiProblem, problemFor } from './problem.ts';

export function streamHandlers(stream: StreamService) {
  return {
    async getStream({ headers, caller }) {
      try {
        const events = await stream.open(signedIn(caller), headers['last-event-id']);
        return { status: 200, events };
      } catch (error) {
        // Too many streams is the caller's rate: the problem a rate limit answers with.
        if (error instanceof TooManyStreams) {
          throw new ApiProblem('rate-limited', error.message, { headers: { 'retry-after': String(error.retryAfterSeconds) } });
        }
        if (error instanceof ServiceError) throw problemFor(error, { lastEventId: 'header/last-event-id' });
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
