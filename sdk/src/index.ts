// agora-sdk: a typed client for the Agora API, built on openapi-fetch and the types generated
// from the API's OpenAPI contract. Creating calls carry an Idempotency-Key, and failed attempts
// that are safe to repeat are retried with the same key.
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './api.ts';
import { idempotentOperations } from './idempotent.ts';

export type { components, operations, paths };
export type Schemas = components['schemas'];
export type Account = Schemas['Account'];
export type AccountList = Schemas['AccountList'];
export type NewAccount = Schemas['NewAccount'];
export type AccountPatch = Schemas['AccountPatch'];
export type Session = Schemas['Session'];
export type Problem = Schemas['Problem'];
export type ProblemType = Problem['type'];

export { idempotentOperations };

export interface RetryOptions {
  /** Attempts in all, the first one included. Default 4. */
  attempts?: number;
  /** The first backoff; it doubles with each retry, and the wait is drawn at random below it (full jitter). Default 200 ms. */
  baseDelayMs?: number;
  /** The longest wait between two attempts. A `Retry-After` asking for more is not waited for: its response is returned. Default 10 s. */
  maxDelayMs?: number;
  /** No retry starts later than this after the first attempt. Default 30 s. */
  maxElapsedMs?: number;
}

export interface AgoraClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the API lives, including `/v1`, e.g. `http://127.0.0.1:3000/v1`. */
  baseUrl: string;
  /** A session token from `POST /sessions`, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Retries of attempts that failed in a way worth retrying (see the README), with exponential
   * backoff that honours `Retry-After`; `false` sends every request once.
   */
  retry?: RetryOptions | false;
  /** Makes the Idempotency-Key of a creating call that was given none. Default: a random UUID. */
  newIdempotencyKey?: () => string;
}

export interface AgoraClient extends Client<paths> {
  /** Use this token for every later request (or none, with `undefined`). */
  setToken(token: string | undefined): void;
  readonly token: string | undefined;
}

const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, baseDelayMs: 200, maxDelayMs: 10_000, maxElapsedMs: 30_000 };

/** Methods that may be repeated without changing the outcome (RFC 9110, 9.2.2). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

const IN_FLIGHT: ProblemType = 'urn:agora:problem:idempotency-in-flight';

/** A fresh Idempotency-Key: a random UUID. */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or undefined. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function isInFlight(response: Response): Promise<boolean> {
  if (response.status !== 409) return false;
  try {
    const problem = (await response.clone().json()) as { type?: unknown };
    return problem.type === IN_FLIGHT;
  } catch {
    return false;
  }
}

/**
 * Wraps `fetch` with retries. A request is repeatable when its method is idempotent or it is a
 * creating call with an Idempotency-Key (every attempt sends the same key, so the server runs it
 * once). Retried: network failures and 503 (repeatable requests only), 409 "idempotency key in
 * flight" (keyed requests), and 429 (any request: it was refused before it ran).
 */
type Fetch = (request: Request, init?: RequestInit) => Promise<Response>;

function retryingFetch(baseFetch: Fetch, retry: Required<RetryOptions>, keyed: WeakSet<Request>): Fetch {
  return async (request, init) => {
    const repeatable = IDEMPOTENT_METHODS.has(request.method) || keyed.has(request);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= retry.attempts;
      let response: Response;
      try {
        // A Request's body can be read once: every attempt sends a copy.
        response = await baseFetch(request.clone(), init);
      } catch (error) {
        if (last || !repeatable || request.signal?.aborted) throw error;
        const wait = backoff(retry, attempt);
        if (Date.now() - started + wait > retry.maxElapsedMs) throw error;
        await sleep(wait, request.signal);
        continue;
      }
      const worthRetrying =
        response.status === 429 ||
        (response.status === 503 && repeatable) ||
        (keyed.has(request) && (await isInFlight(response)));
      if (!worthRetrying || last) return response;
      const asked = retryAfterMs(response);
      if (asked !== undefined && asked > retry.maxDelayMs) return response;
      const wait = Math.max(asked ?? 0, backoff(retry, attempt));
      if (Date.now() - started + wait > retry.maxElapsedMs) return response;
      await response.body?.cancel().catch(() => {});
      await sleep(wait, request.signal);
    }
  };
}

function backoff(retry: Required<RetryOptions>, attempt: number): number {
  return Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
}

/** Creates a client. Every method is typed by path and method, e.g. `client.GET('/accounts/{accountId}', …)`. */
export function createAgoraClient(options: AgoraClientOptions): AgoraClient {
  const { token: initialToken, retry, newIdempotencyKey: makeKey = newIdempotencyKey, ...clientOptions } = options;
  let token = initialToken;
  const keyed = new WeakSet<Request>();
  const baseFetch = (clientOptions.fetch ?? globalThis.fetch) as Fetch;
  const client = createClient<paths>({
    ...clientOptions,
    fetch: retry === false ? baseFetch : retryingFetch(baseFetch, { ...DEFAULT_RETRY, ...retry }, keyed),
  });
  client.use({
    onRequest({ request, schemaPath }) {
      if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      if (idempotentOperations.has(`${request.method} ${schemaPath}`)) {
        if (!request.headers.has('idempotency-key')) request.headers.set('idempotency-key', makeKey());
        keyed.add(request);
      }
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
