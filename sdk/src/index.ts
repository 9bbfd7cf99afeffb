// agora-sdk: a typed client for the Agora API, built on openapi-fetch and the types generated
// from the API's OpenAPI contract. The machinery (tokens, Idempotency-Keys, timeouts, retries,
// hooks, typed errors, pagination) is in core.ts and errors.ts, shared by every version of the
// API; this file binds it to each version's generated types: v1 (`createAgoraClient`) and v2
// (`createAgoraV2Client`).
import { createApiClient, type AgoraClientOptions, type ApiClient } from './core.ts';
import type { components, operations, paths } from './api.ts';
import type { components as componentsV2, operations as operationsV2, paths as pathsV2 } from './api-v2.ts';
import { idempotentOperations } from './idempotent.ts';
import { idempotentOperationsV2 } from './idempotent-v2.ts';
import { streamEvents, type OpenStream, type StreamEvent, type StreamOptions } from './stream.ts';

export type { components, operations, paths };
export type { componentsV2, operationsV2, pathsV2 };
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
export type Conversation = Schemas['Conversation'];
export type NewConversation = Schemas['NewConversation'];
export type ConversationList = Schemas['ConversationList'];
export type ConversationParticipant = Schemas['ConversationParticipant'];
export type ConversationMarker = Schemas['ConversationMarker'];
export type Message = Schemas['Message'];
export type NewMessage = Schemas['NewMessage'];
export type MessageList = Schemas['MessageList'];
export type Problem = Schemas['Problem'];
export type ProblemType = Problem['type'];

/** v2's types: a post without `authorId`, a list as `{ data, next }`. */
export type SchemasV2 = componentsV2['schemas'];
export type PostV2 = SchemasV2['Post'];
export type NewPostV2 = SchemasV2['NewPost'];
export type PostPatchV2 = SchemasV2['PostPatch'];
export type PostListV2 = SchemasV2['PostList'];

export { idempotentOperations, idempotentOperationsV2 };
export { VERSION } from './version.ts';
export { EventStreamParser, type RawServerSentEvent, type StreamEvent, type StreamOptions } from './stream.ts';
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
  type CursorPage,
  type LinkPage,
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

/** A client for the v1 API: `client.GET('/accounts/{accountId}', …)`, `client.paginate('/feed')`, `client.stream()`, … */
export interface AgoraClient extends ApiClient<paths> {
  /**
   * Your live stream (GET /stream) as it happens: `for await (const event of client.stream({ signal }))`.
   * Reconnects by itself after a drop, resuming with `Last-Event-ID`, so every event arrives
   * once, in order. Pass `lastEventId` to resume from an event you processed earlier.
   */
  stream(options?: StreamOptions): AsyncGenerator<StreamEvent, void, undefined>;
}

/** Creates a client of the v1 API; `baseUrl` ends in `/v1`. */
export function createAgoraClient(options: AgoraClientOptions): AgoraClient {
  const client = createApiClient<paths>(options, idempotentOperations);
  const open: OpenStream = (lastEventId, signal) =>
    client.GET('/stream', {
      params: { header: lastEventId === undefined ? {} : { 'Last-Event-ID': lastEventId } },
      parseAs: 'stream',
      signal,
    });
  return Object.defineProperty(client, 'stream', { value: (streamOptions?: StreamOptions) => streamEvents(open, streamOptions) }) as AgoraClient;
}

/**
 * A client for the v2 API (the posts family: `/posts`, `/posts/{postId}`, `/feed`,
 * `/accounts/{accountId}/posts`, `/channels/{channelId}/posts`):
 * `client.GET('/posts/{postId}', …)`, `client.paginate('/feed')` following `next` links, …
 */
export interface AgoraV2Client extends ApiClient<pathsV2> {}

/**
 * Creates a client of the v2 API; `baseUrl` ends in `/v2`. It shares everything with the v1
 * client (options, errors, retries, Idempotency-Keys on v2's creating calls, hooks); a token
 * from v1's `POST /sessions` works on both.
 */
export function createAgoraV2Client(options: AgoraClientOptions): AgoraV2Client {
  return createApiClient<pathsV2>(options, idempotentOperationsV2);
}

// Another version of the API is one more pair of generated files (its `paths` and its
// `idempotentOperations`, written by scripts/copy-sdk-types.ts) and one more factory over
// them, as for v2 above.
