// The machinery every Agora client shares, whatever version of the API it speaks: the session
// token, Idempotency-Keys, a timeout per attempt, retries with backoff, hooks, errors and
// pagination (over v1's `nextCursor` and v2's `next` links alike). A client for one version is
// `createApiClient<paths>(options, idempotentOperations)`.
import createClient, { type Client, type ClientOptions, type FetchOptions } from 'openapi-fetch';
import { AgoraConnectionError, AgoraTimeoutError, retryAfterMs, toError } from './errors.ts';

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

/** What the hooks are told. `attempt` counts from 1; every retry is a new attempt. */
export interface RequestEvent {
  /** The request of this attempt; `onRequest` may still set its headers (e.g. `traceparent`). */
  request: Request;
  attempt: number;
}
export interface ResponseEvent extends RequestEvent {
  response: Response;
  durationMs: number;
}
export interface ErrorEvent extends RequestEvent {
  /** An `AgoraConnectionError` (or `AgoraTimeoutError`), or the reason of your own `signal`. */
  error: unknown;
  durationMs: number;
}
export interface RetryEvent extends RequestEvent {
  /** How long the client waits before the next attempt. */
  delayMs: number;
  /** The response that is retried; undefined when the attempt got none (see `error`). */
  response: Response | undefined;
  error: unknown;
}

/**
 * Called for every attempt, for logging, metrics and tracing. A hook that throws fails the
 * call; a hook that returns a promise is awaited.
 */
export interface Hooks {
  /** Before an attempt is sent. */
  onRequest?(event: RequestEvent): void | Promise<void>;
  /** When an attempt got a response (any status). */
  onResponse?(event: ResponseEvent): void | Promise<void>;
  /** When an attempt got no response: a network failure, a timeout or your `signal`. */
  onError?(event: ErrorEvent): void | Promise<void>;
  /** Before the client waits to try again. */
  onRetry?(event: RetryEvent): void | Promise<void>;
}

export interface AgoraClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the API lives, including the version, e.g. `http://127.0.0.1:3000/v1`. */
  baseUrl: string;
  /** A session token from `POST /sessions`, sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /**
   * Retries of attempts that failed in a way worth retrying (see the README), with exponential
   * backoff and jitter that honours `Retry-After`; `false` sends every request once.
   */
  retry?: RetryOptions | false | undefined;
  /**
   * How long an attempt may wait for its response (its status and headers) before it is
   * abandoned as an `AgoraTimeoutError` (and retried when that is safe). Default 30 s; `0` waits
   * for ever. For a deadline on a whole call, pass `signal: AbortSignal.timeout(ms)`.
   */
  timeoutMs?: number | undefined;
  /** Hooks for logging and tracing, called for every attempt. */
  hooks?: Hooks | undefined;
  /** Makes the Idempotency-Key of a creating call that was given none. Default: a random UUID. */
  newIdempotencyKey?: (() => string) | undefined;
}

/** A page of a v1 list: its items and the cursor of the next page (`null` on the last). */
export interface CursorPage {
  data: readonly unknown[];
  nextCursor: string | null;
}
/** A page of a v2 list: its items and the path and query of the next page (`null` on the last). */
export interface LinkPage {
  data: readonly unknown[];
  next: string | null;
}

/** The paths of `P` whose `GET` answers a page: `{ data: [...], nextCursor }` (v1) or `{ data: [...], next }` (v2). */
export type ListPath<P> = {
  [K in keyof P]: P[K] extends { get: { responses: { 200: { content: { 'application/json': CursorPage | LinkPage } } } } } ? K : never;
}[keyof P];

/** The item type of the list at path `K`. */
export type ListItem<P, K extends keyof P> = P[K] extends {
  get: { responses: { 200: { content: { 'application/json': { data: readonly (infer T)[] } } } } };
}
  ? T
  : never;

/** The options of a `GET` on path `K` (path, query and header parameters, `signal`, …). */
export type ListInit<P, K extends keyof P> = P[K] extends { get: infer Operation } ? FetchOptions<Operation> : never;

/** The page type of the list at path `K`. */
export type ListPage<P, K extends keyof P> = P[K] extends {
  get: { responses: { 200: { content: { 'application/json': infer Page } } } };
}
  ? Page
  : never;

export interface ApiClient<P extends {}> extends Client<P> {
  /** Use this token for every later request (or none, with `undefined`). */
  setToken(token: string | undefined): void;
  readonly token: string | undefined;
  /**
   * Every item of a list, fetching the next page as you iterate:
   * `for await (const post of client.paginate('/feed', { params: { query: { limit: 50 } } }))`.
   * A v1 list's next page is asked for with its `nextCursor`; a v2 list's is its `next` link,
   * followed as it is (it keeps the first request's filters, sort and limit). The later pages
   * are sent with the first one's options but its path and query (`headers`, `signal`, …).
   * A failed page throws its typed error. Stop whenever you like (`break`).
   */
  paginate<K extends ListPath<P>>(path: K, ...init: {} extends ListInit<P, K> ? [ListInit<P, K>?] : [ListInit<P, K>]): AsyncGenerator<ListItem<P, K>, void, undefined>;
  /** The pages of a list, one response body at a time, following `nextCursor` (v1) or `next` (v2). */
  pages<K extends ListPath<P>>(path: K, ...init: {} extends ListInit<P, K> ? [ListInit<P, K>?] : [ListInit<P, K>]): AsyncGenerator<ListPage<P, K>, void, undefined>;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, baseDelayMs: 200, maxDelayMs: 10_000, maxElapsedMs: 30_000 };
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Methods that may be repeated without changing the outcome (RFC 9110, 9.2.2). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

const IN_FLIGHT = 'urn:agora:problem:idempotency-in-flight';

/** A fresh Idempotency-Key: a random UUID. */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
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

/** The wait before retry number `attempt`: drawn at random below the exponential bound (full jitter). */
export function backoff(retry: Required<RetryOptions>, attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
}

type Fetch = (request: Request, init?: RequestInit) => Promise<Response>;

interface Transport {
  retry: Required<RetryOptions>;
  timeoutMs: number;
  hooks: Hooks;
  keyed: WeakSet<Request>;
}

/**
 * One attempt: a copy of the request (a body can be read once) whose signal also fires after
 * `timeoutMs`. A failure without a response becomes an `AgoraConnectionError` or
 * `AgoraTimeoutError`; the caller's own abort keeps its reason.
 */
async function attempt(baseFetch: Fetch, request: Request, init: RequestInit | undefined, timeoutMs: number, hooks: Hooks, n: number): Promise<Response> {
  if (request.signal.aborted) throw request.signal.reason;
  const controller = new AbortController();
  const sent = new Request(request.clone(), { signal: controller.signal });
  // A hook that throws fails the call as it is: it is not a connection error, nor retried.
  await hooks.onRequest?.({ request: sent, attempt: n });
  const onAbort = () => controller.abort(request.signal.reason);
  request.signal.addEventListener('abort', onAbort, { once: true });
  const timeout = new AgoraTimeoutError(request, timeoutMs);
  const timer = timeoutMs > 0 ? setTimeout(() => controller.abort(timeout), timeoutMs) : undefined;
  const started = Date.now();
  let response: Response;
  try {
    response = await baseFetch(sent, init);
  } catch (cause) {
    const error = request.signal.aborted
      ? request.signal.reason
      : controller.signal.aborted && controller.signal.reason === timeout
        ? timeout
        : cause instanceof AgoraConnectionError
          ? cause
          : new AgoraConnectionError(request, cause);
    await hooks.onError?.({ request: sent, error, attempt: n, durationMs: Date.now() - started });
    throw error;
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener('abort', onAbort);
  }
  await hooks.onResponse?.({ request: sent, response, attempt: n, durationMs: Date.now() - started });
  return response;
}

/**
 * Wraps `fetch` with timeouts, hooks and retries. A request is repeatable when its method is
 * idempotent or it is a creating call with an Idempotency-Key (every attempt sends the same key,
 * so the server runs it once). Retried: no response (network failure, timeout) and 503
 * (repeatable requests only), 409 "idempotency key in flight" (keyed requests), and 429 (any
 * request: it was refused before it ran).
 */
function transportFetch(baseFetch: Fetch, transport: Transport): Fetch {
  const { retry, timeoutMs, hooks, keyed } = transport;
  return async (request, init) => {
    const repeatable = IDEMPOTENT_METHODS.has(request.method) || keyed.has(request);
    const started = Date.now();
    for (let n = 1; ; n++) {
      const last = n >= retry.attempts;
      let response: Response;
      try {
        response = await attempt(baseFetch, request, init, timeoutMs, hooks, n);
      } catch (error) {
        if (last || !repeatable || request.signal.aborted || !(error instanceof AgoraConnectionError)) throw error;
        const wait = backoff(retry, n);
        if (Date.now() - started + wait > retry.maxElapsedMs) throw error;
        await hooks.onRetry?.({ request, attempt: n, delayMs: wait, response: undefined, error });
        await sleep(wait, request.signal);
        continue;
      }
      const worthRetrying =
        response.status === 429 || (response.status === 503 && repeatable) || (keyed.has(request) && (await isInFlight(response)));
      if (!worthRetrying || last) return response;
      const asked = retryAfterMs(response);
      if (asked !== undefined && asked > retry.maxDelayMs) return response;
      const wait = Math.max(asked ?? 0, backoff(retry, n));
      if (Date.now() - started + wait > retry.maxElapsedMs) return response;
      await hooks.onRetry?.({ request, attempt: n, delayMs: wait, response, error: undefined });
      await response.body?.cancel().catch(() => {});
      await sleep(wait, request.signal);
    }
  };
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

/**
 * A client for the API described by `paths` `P`. `idempotentOperations` lists the
 * `METHOD /path`s that take an Idempotency-Key (generated from the contract's `x-idempotent`).
 */
export function createApiClient<P extends {}>(options: AgoraClientOptions, idempotentOperations: ReadonlySet<string>): ApiClient<P> {
  const {
    token: initialToken,
    retry,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    hooks = {},
    newIdempotencyKey: makeKey = newIdempotencyKey,
    ...clientOptions
  } = options;
  let token = initialToken;
  const keyed = new WeakSet<Request>();
  const baseFetch = (clientOptions.fetch ?? ((request: Request, init?: RequestInit) => globalThis.fetch(request, init))) as Fetch;
  const transport: Transport = {
    retry: retry === false ? { ...DEFAULT_RETRY, attempts: 1 } : { ...DEFAULT_RETRY, ...retry },
    timeoutMs,
    hooks,
    keyed,
  };
  const client = createClient<P>({ ...clientOptions, fetch: transportFetch(baseFetch, transport) });
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

  type Page = { data: readonly unknown[]; nextCursor?: string | null; next?: string | null };
  type Init = Omit<FetchOptions<unknown>, 'params' | 'querySerializer'> & {
    params?: { query?: Record<string, unknown>; header?: Record<string, unknown>; path?: Record<string, unknown> };
    querySerializer?: unknown;
  };
  const get = client.GET as unknown as (path: string, init: Init | undefined) => Promise<{ data?: Page; error?: unknown; response: Response }>;

  /**
   * The request for a v2 list's `next` (`/v2/feed?limit=20&cursor=…`): resolved against
   * `baseUrl` like a link on a page (in a browser, a relative `baseUrl` against the page), and
   * sent as it is, query string included. A link to another origin is refused: the token is
   * not sent there.
   */
  function following(next: string, init: Init | undefined): { path: string; init: Init } {
    const location = (globalThis as { location?: { href?: string } }).location?.href;
    const base = new URL(options.baseUrl, location);
    const target = new URL(next, base);
    if (target.origin !== base.origin) throw new Error(`agora-sdk: not following a next link to another origin: ${next}`);
    const search = target.search.slice(1);
    const { params, querySerializer: _querySerializer, baseUrl: _baseUrl, ...rest } = init ?? {};
    return {
      path: target.pathname,
      init: { ...rest, params: params?.header === undefined ? {} : { header: params.header }, baseUrl: target.origin, querySerializer: () => search },
    };
  }

  async function* pages(path: string, init: Init | undefined): AsyncGenerator<Page, void, undefined> {
    let request = { path, init };
    for (;;) {
      const page = await unwrap(get(request.path, request.init));
      yield page;
      if (typeof page.next === 'string') {
        request = following(page.next, init);
      } else if (typeof page.nextCursor === 'string') {
        const params = { ...init?.params, query: { ...init?.params?.query, cursor: page.nextCursor } };
        request = { path, init: { ...init, params } };
      } else {
        return;
      }
    }
  }
  async function* items(path: string, init: Init | undefined): AsyncGenerator<unknown, void, undefined> {
    for await (const page of pages(path, init)) yield* page.data;
  }

  return Object.defineProperties(client, {
    setToken: {
      value(next: string | undefined) {
        token = next;
      },
    },
    token: { get: () => token, enumerable: true },
    paginate: { value: (path: string, init?: Init) => items(path, init) },
    pages: { value: (path: string, init?: Init) => pages(path, init) },
  }) as ApiClient<P>;
}
