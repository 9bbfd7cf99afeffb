// agora-sdk: a typed client for the Agora API, built on openapi-fetch and the types generated
// from the API's OpenAPI contract. The machinery (tokens, Idempotency-Keys, timeouts, retries,
// hooks, typed errors, pagination) is in core.ts and errors.ts, shared by every version of the
// API; this file binds it to v1's generated types.
import { createApiClient, type AgoraClientOptions, type ApiClient } from './core.ts';
import { toError } from './errors.ts';
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

type Call<T> = Promise<{ data?: T; error?: unknown; response: Response }>;

/**
 * Returns a call's data, or throws its problem as a typed `AgoraError` (`NotFoundError`,
 * `PreconditionFailedError`, …): `const me = await unwrap(client.GET('/sessions/me'))`.
 * A `304 Not Modified` (the answer to `If-None-Match`) is not an error: use `unwrapIfModified`,
 * whose type says that it resolves to `undefined` then.
 */
export async function unwrap<T>(call: Call<T>): Promise<T> {
  const { data, error, response } = await call;
  if (response.status === 304) return undefined as T;
  if (!response.ok) throw toError(error, response);
  return data as T;
}

/** As `unwrap`, for a conditional read: `undefined` when the copy you hold is current (`304`). */
export async function unwrapIfModified<T>(call: Call<T>): Promise<T | undefined> {
  return unwrap<T | undefined>(call);
}

/** The strong ETag of a response, to send back as `If-Match`. */
export function etagOf(response: Response): string | undefined {
  return response.headers.get('etag') ?? undefined;
}

/** The version a response's ETag carries (`"3"` → 3), or undefined. */
export function versionOf(response: Response): number | undefined {
  const match = /^"(\d+)"$/.exec(response.headers.get('etag') ?? '');
  return match ? Number(match[1]) : undefined;
}

/** True when the response is the stored outcome of an earlier call with the same Idempotency-Key. */
export function isReplay(response: Response): boolean {
  return response.headers.get('idempotent-replayed') === 'true';
}

/** `If-Match` for a resource you read: `{ 'If-Match': ifMatch(account.version) }`. */
export function ifMatch(version: number): string {
  return `"${version}"`;
}
