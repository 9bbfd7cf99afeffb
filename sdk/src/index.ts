// agora-sdk: a typed client for the Agora API, built on openapi-fetch and the types generated
// from the API's OpenAPI contract.
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './api.ts';

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

export interface AgoraClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the API lives, including `/v1`, e.g. `http://127.0.0.1:3000/v1`. */
  baseUrl: string;
  /** A session token from `POST /sessions`, sent as `Authorization: Bearer <token>`. */
  token?: string;
}

export interface AgoraClient extends Client<paths> {
  /** Use this token for every later request (or none, with `undefined`). */
  setToken(token: string | undefined): void;
  readonly token: string | undefined;
}

/** Creates a client. Every method is typed by path and method, e.g. `client.GET('/accounts/{accountId}', …)`. */
export function createAgoraClient(options: AgoraClientOptions): AgoraClient {
  const { token: initialToken, ...clientOptions } = options;
  let token = initialToken;
  const client = createClient<paths>(clientOptions);
  client.use({
    onRequest({ request }) {
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  });
  return Object.assign(client, {
    setToken(next: string | undefined) {
      token = next;
    },
    get token() {
      return token;
    },
  });
}

/** A problem response (RFC 9457) from the API, as an Error. */
export class AgoraError extends Error {
  readonly status: number;
  readonly type: ProblemType;
  readonly title: string;
  readonly detail: string | undefined;
  readonly requestId: string;
  readonly errors: NonNullable<Problem['errors']>;
  readonly problem: Problem;
  readonly response: Response;

  constructor(problem: Problem, response: Response) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'AgoraError';
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.requestId = problem.requestId;
    this.errors = problem.errors ?? [];
    this.problem = problem;
    this.response = response;
  }
}

/** `412`: the resource changed since you read it. Re-read it (or use `currentVersion`) and retry. */
export class PreconditionFailedError extends AgoraError {
  readonly currentVersion: number | undefined;
  constructor(problem: Problem, response: Response) {
    super(problem, response);
    this.name = 'PreconditionFailedError';
    this.currentVersion = problem.currentVersion;
  }
}

function toError(error: unknown, response: Response): AgoraError {
  const problem =
    error && typeof error === 'object' && 'type' in error && 'status' in error
      ? (error as Problem)
      : ({
          type: 'urn:agora:problem:internal-error',
          title: response.statusText || 'Unexpected response',
          status: response.status,
          detail: typeof error === 'string' ? error : undefined,
          requestId: response.headers.get('x-request-id') ?? '',
        } as Problem);
  return problem.status === 412 ? new PreconditionFailedError(problem, response) : new AgoraError(problem, response);
}

/**
 * Returns a call's data, or throws its problem as an `AgoraError`:
 * `const account = await unwrap(client.GET('/sessions/me'))`.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toError(error, response);
  return data as T;
}

/** The strong ETag of a response, to send back as `If-Match`. */
export function etagOf(response: Response): string | undefined {
  return response.headers.get('etag') ?? undefined;
}

/** `If-Match` for a resource you read: `{ 'If-Match': ifMatch(account.version) }`. */
export function ifMatch(version: number): string {
  return `"${version}"`;
}
