// The handlers layer's API: every operation of the spec, and the bearer-token check.
import type { AccountsService, Caller, SessionsService } from '../services/accounts/index.ts';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import { accountsHandlers } from './accounts.ts';
import { idempotentRunner, type RunIdempotently } from './idempotency.ts';
import type { Handlers } from './operations.ts';
import { bearerAuthenticator, sessionsHandlers } from './sessions.ts';

export { ApiProblem, PROBLEMS, WWW_AUTHENTICATE, problemFor } from './problem.ts';
export type { FieldProblem } from './problem.ts';
export { noneMatchHits } from './conditional.ts';
export { idempotencyKey } from './idempotency.ts';
export type { KeyedCall, RunIdempotently, WireResponse } from './idempotency.ts';
export type { Handlers, OperationId, OperationRequest, OperationReply } from './operations.ts';
export type { Caller } from '../services/accounts/index.ts';
export { ServiceError } from '../services/errors.ts';

export interface HandlerServices {
  accounts: AccountsService;
  sessions: SessionsService;
  idempotency: IdempotencyService;
}

export function createHandlers(services: HandlerServices): Handlers {
  return {
    ...accountsHandlers(services.accounts),
    ...sessionsHandlers(services.sessions),
  };
}

export type Authenticate = (token: string) => Promise<Caller>;

export function createAuthenticator(services: HandlerServices): Authenticate {
  return bearerAuthenticator(services.sessions);
}

/** How the HTTP layer runs operations marked `x-idempotent` when a key is sent. */
export function createIdempotentRunner(services: HandlerServices): RunIdempotently {
  return idempotentRunner(services.idempotency);
}
