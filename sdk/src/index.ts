// agora-sdk: a typed client for the Agora API, built on openapi-fetch and the types generated
// from the API's OpenAPI contract. The machinery (tokens, Idempotency-Keys, timeouts, retries,
// hooks, typed errors, pagination) is in core.ts and errors.ts, shared by every version of the
// API; this file binds it to v1's generated types.
import { createApiClient, type AgoraClientOptions, type ApiClient } from './core.ts';
import type { components, operations, paths } from './api.ts';
import { idempotentOperations } from './idempotent.ts';

export type { components, operations, paths };
export type Schemas = components['schemas'];
export type Account = Schemas['Account'];
export type AccountList = Schemas['AccountList'];
export type NewAccount = Schemas['NewAccount'];
export type AccountPatch = Schemas['AccountPatch'];
export type Session = Schemas['Session'];
export type AccountSummary = Schemas['AccountSummary'];
export type FriendRequest = Schemas['FriendRequest'];
export type Friend = Schemas['Friend'];
export type Post = Schemas['Post'];
export type NewPost = Schemas['NewPost'];
export type PostPatch = Schemas['PostPatch'];
export type PostList = Schemas['PostList'];
export type Channel = Schemas['Channel'];
export type NewChannel = Schemas['NewChannel'];
export type ChannelPatch = Schemas['ChannelPatch'];
export type Member = Schemas['Member'];
export type Problem = Schemas['Problem'];
export type ProblemType = Problem['type'];

export { idempotentOperations };
export { VERSION } from './version.ts';
export {
  createApiClient,
  unwrap,
  unwrapIfModified,
  etagOf,
  versionOf,
  isReplay,
  ifMatch,
  newIdempotencyKey,
  backoff,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUT_MS,
  type AgoraClientOptions,
  type ApiClient,
  type Hooks,
  type RequestEvent,
  type ResponseEvent,
  type ErrorEvent,
  type RetryEvent,
  type RetryOptions,
  type ListPath,
  type ListItem,
  type ListInit,
  type ListPage,
} from './core.ts';
export {
  AgoraError,
  ValidationError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  PreconditionFailedError,
  RateLimitedError,
  UnavailableError,
  AgoraConnectionError,
  AgoraTimeoutError,
  toError,
  type ProblemDocument,
} from './errors.ts';

/** A client for the v1 API: `client.GET('/accounts/{accountId}', …)`, `client.paginate('/feed')`, … */
export interface AgoraClient extends ApiClient<paths> {}

/** Creates a client of the v1 API; `baseUrl` ends in `/v1`. */
export function createAgoraClient(options: AgoraClientOptions): AgoraClient {
  return createApiClient<paths>(options, idempotentOperations);
}

// Another version of the API is one more pair of generated files (its `paths` and its
// `idempotentOperations`) and one more factory over them, sharing everything else:
//   export function createAgoraV2Client(options: AgoraClientOptions): ApiClient<pathsV2> {
//     return createApiClient<pathsV2>(options, idempotentOperationsV2);
//   }
