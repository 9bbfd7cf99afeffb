// What the HTTP layer adds to Fastify's request.
import type { ApiProblem, Caller } from '../handlers/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearerAuth security handler when a valid token was sent. */
    caller: Caller | null;
    /** A token that was sent but is not valid: refused even where anonymous callers are welcome. */
    authFailure: ApiProblem | null;
    /** The problem the request was answered with, if any (for logs and metrics). */
    problem: ApiProblem | null;
    /** Whether it failed with an error that no layer expected (logged with its stack). */
    unexpectedError: boolean;
    /** The Idempotency-Key of a request to an `x-idempotent` operation, when one was sent. */
    idempotencyKey: string | null;
    /** True when the response is the replay of an earlier request with the same key (for metrics). */
    idempotentReplayed: boolean;
  }
}
