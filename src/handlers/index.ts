// The handlers layer's API: every operation of the spec, and the bearer-token check.
import type { AccountsService, Caller, SessionsService } from '../services/accounts/index.ts';
import type { ChannelsService } from '../services/channels/index.ts';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import type { SocialService } from '../services/social/index.ts';
import type { StreamService } from '../services/stream/index.ts';
import { accountsAllowedMethods, accountsHandlers } from './accounts.ts';
import type { AllowedMethods } from './allowed.ts';
import { channelsAllowedMethods, channelsHandlers } from './channels.ts';
import { friendsAllowedMethods, friendsHandlers } from './friends.ts';
import { idempotentRunner, type RunIdempotently } from './idempotency.ts';
import { postsAllowedMethods, postsHandlers } from './posts.ts';
import type { Handlers } from './operations.ts';
import { bearerAuthenticator, sessionsAllowedMethods, sessionsHandlers } from './sessions.ts';
import { streamAllowedMethods, streamHandlers } from './stream.ts';
import { postsHandlersV2, type HandlersV2 } from './v2/posts.ts';

export { ApiProblem, ECHO_LENGTH, PROBLEMS, PROBLEM_LIMITS, WWW_AUTHENTICATE, clip, problemFor } from './problem.ts';
export type { FieldProblem } from './problem.ts';
export type { AllowedMethods, PermissionFunction, PermissionRequest } from './allowed.ts';
export { noneMatchHits } from './conditional.ts';
export { idempotencyKey } from './idempotency.ts';
export type { KeyedCall, RunIdempotently, WireResponse } from './idempotency.ts';
export type { Handlers, OperationId, OperationRequest, OperationReply } from './operations.ts';
export type { EventSource, SentEvent } from './operations.ts';
export type { Caller } from '../services/accounts/index.ts';
export type { HandlersV2 } from './v2/posts.ts';
export { V2_PREFIX } from './v2/posts.ts';
export { ServiceError } from '../services/errors.ts';

export interface HandlerServices {
  accounts: AccountsService;
  sessions: SessionsService;
  idempotency: IdempotencyService;
  social: SocialService;
  channels: ChannelsService;
  posts: PostsService;
  stream: StreamService;
}

/** The permission function of every resource path, for OPTIONS (one map for both API versions: v2 serves some of v1's paths). */
function allowedMethods(services: HandlerServices): AllowedMethods {
  return {
    ...accountsAllowedMethods(services.accounts),
    ...sessionsAllowedMethods(),
    ...friendsAllowedMethods(services.social, services.accounts),
    ...channelsAllowedMethods(services.channels, services.posts),
    ...postsAllowedMethods(services.posts, services.accounts),
    ...streamAllowedMethods(),
  };
}

export function createHandlers(services: HandlerServices): Handlers {
  return {
    allowedMethods: allowedMethods(services),
    ...accountsHandlers(services.accounts),
    ...sessionsHandlers(services.sessions),
    ...friendsHandlers(services.social, services.accounts),
    ...channelsHandlers(services.channels, services.posts),
    ...postsHandlers(services.posts),
    ...streamHandlers(services.stream),
  };
}

/** Every operation of openapi-v2.yaml, on the same services as version 1. */
export function createHandlersV2(services: HandlerServices): HandlersV2 {
  return postsHandlersV2(services.posts, allowedMethods(services));
}

export type Authenticate = (token: string) => Promise<Caller>;

export function createAuthenticator(services: HandlerServices): Authenticate {
  return bearerAuthenticator(services.sessions);
}

/** How the HTTP layer runs operations marked `x-idempotent` when a key is sent. */
export function createIdempotentRunner(services: HandlerServices): RunIdempotently {
  return idempotentRunner(services.idempotency);
}
