// The handlers layer's API: every operation of the spec, and the bearer-token check.
import type { AccountsService, Caller, SessionsService } from '../services/accounts/index.ts';
import type { ChannelsService } from '../services/channels/index.ts';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import type { MessagesService } from '../services/messages/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import type { SocialService } from '../services/social/index.ts';
import { accountsAllowedMethods, accountsHandlers } from './accounts.ts';
import type { AllowedMethods } from './allowed.ts';
import { channelsAllowedMethods, channelsHandlers } from './channels.ts';
import { conversationsAllowedMethods, conversationsHandlers } from './conversations.ts';
import { friendsAllowedMethods, friendsHandlers } from './friends.ts';
import { idempotentRunner, type RunIdempotently } from './idempotency.ts';
import { postsAllowedMethods, postsHandlers } from './posts.ts';
import type { Handlers } from './operations.ts';
import { sessionsAllowedMethods, sessionsHandlers } from './sessions.ts';
import { postsHandlersV2, type HandlersV2 } from './v2/posts.ts';

export { ApiProblem, ECHO_LENGTH, PROBLEMS, PROBLEM_LIMITS, WWW_AUTHENTICATE, clip } from './problem.ts';
export type { FieldProblem } from './problem.ts';
export type { AllowedMethods, PermissionFunction, PermissionRequest } from './allowed.ts';
export { idempotencyKey } from './idempotency.ts';
export type { KeyedCall, RunIdempotently, WireResponse } from './idempotency.ts';
export type { Handlers, OperationId, OperationRequest, OperationReply } from './operations.ts';
export type { Caller } from '../services/accounts/index.ts';
export type { HandlersV2 } from './v2/posts.ts';
export { V2_PREFIX } from './v2/posts.ts';
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
  SignInRequired,
  Unauthenticated,
} from '../services/errors.ts';

export interface HandlerServices {
  accounts: AccountsService;
  sessions: SessionsService;
  idempotency: IdempotencyService;
  social: SocialService;
  channels: ChannelsService;
  posts: PostsService;
  messages: MessagesService;
}

/** The permission function of every resource path, for OPTIONS (one map for both API versions: v2 serves some of v1's paths). */
function allowedMethods(services: HandlerServices): AllowedMethods {
  return {
    ...accountsAllowedMethods(services.accounts),
    ...sessionsAllowedMethods(),
    ...friendsAllowedMethods(services.social, services.accounts),
    ...channelsAllowedMethods(services.channels, services.posts),
    ...postsAllowedMethods(services.posts, services.accounts),
    ...conversationsAllowedMethods(services.messages),
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
    ...conversationsHandlers(services.messages),
  };
}

/** Every operation of openapi-v2.yaml, on the same services as version 1. */
export function createHandlersV2(services: HandlerServices): HandlersV2 {
  return postsHandlersV2(services.posts, allowedMethods(services));
}

export type Authenticate = (token: string) => Promise<Caller>;

/** Turns a bearer token into the caller; raises Unauthenticated for one that is not (or no longer) valid. */
export function createAuthenticator(services: HandlerServices): Authenticate {
  return (token) => services.sessions.authenticate(token);
}

/** How the HTTP layer runs operations marked `x-idempotent` when a key is sent. */
export function createIdempotentRunner(services: HandlerServices): RunIdempotently {
  return idempotentRunner(services.idempotency);
}
