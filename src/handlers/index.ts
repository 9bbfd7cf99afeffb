// The handlers layer's API for the HTTP layer: the shapes of the operations, the problems, and
// the bearer-token check. Which handlers serve the contract is the domains' business: each
// domain module (src/domains/) gives its own from the tag files here.
import type { Caller, SessionsService } from '../services/accounts/index.ts';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import { idempotentRunner, type RunIdempotently } from './idempotency.ts';

export { ApiProblem, ECHO_LENGTH, PROBLEMS, PROBLEM_LIMITS, WWW_AUTHENTICATE, clip } from './problem.ts';
export type { FieldProblem } from './problem.ts';
export type { AllowedMethods, PermissionFunction, PermissionRequest } from './allowed.ts';
export { idempotencyKey } from './idempotency.ts';
export { withCall } from '../services/call-context.ts';
export type { KeyedCall, RunIdempotently } from './idempotency.ts';
export type { RecordedResponse } from '../services/idempotency/index.ts';
export type { UnitOfWork } from '../services/unit-of-work.ts';
export type { Handlers, OperationId, OperationRequest, OperationReply } from './operations.ts';
export type { EventSource, SentEvent } from './operations.ts';
export type { Caller } from '../services/accounts/index.ts';
export type { HandlersV2 } from './v2/posts.ts';
export { V1_PREFIX, V2_PREFIX } from './versions.ts';
export {
  Conflict,
  Forbidden,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidCredentials,
  InvalidInput,
  NotFound,
  PreconditionFailed,
  ServiceError,
  ServiceUnavailable,
  SignInRequired,
  Unauthenticated,
} from '../services/errors.ts';

export type Authenticate = (token: string) => Promise<Caller>;

/** Turns a bearer token into the caller; raises Unauthenticated for one that is not (or no longer) valid. */
export function createAuthenticator(services: { sessions: SessionsService }): Authenticate {
  return (token) => services.sessions.authenticate(token);
}

/** How the HTTP layer runs operations marked `x-idempotent` when a key is sent. */
export function createIdempotentRunner(services: { idempotency: IdempotencyService }): RunIdempotently {
  return idempotentRunner(services.idempotency);
}
