// What the HTTP layer adds to Fastify's request and to its routes' config.
import type { ApiProblem, Caller, UnitOfWork } from '../handlers/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication plugin when a valid bearer token was sent. */
    caller: Caller | null;
    /** Set by the conditional-requests plugin on operations that declare If-Match: the version it names. */
    expectedVersion: number | undefined;
    /** The problem the request was answered with, if any (for logs and metrics). */
    problem: ApiProblem | null;
    /** Whether it failed with an error that no layer expected (logged with its stack). */
    unexpectedError: boolean;
    /** The Idempotency-Key of a request to an `x-idempotent` operation, when one was sent. */
    idempotencyKey: string | null;
    /** True when the response is the replay of an earlier request with the same key (for metrics). */
    idempotentReplayed: boolean;
    /**
     * Set by the idempotency plugin for a keyed request: the transaction that the key's record
     * commits in, which the handler passes to the service's write.
     */
    unitOfWork: UnitOfWork | undefined;
  }

  interface FastifyContextConfig {
    /** Where the operation's query and path parameters come from (`cursor` → `query/cursor`), for problem pointers. */
    inputs?: Record<string, string>;
  }
}
