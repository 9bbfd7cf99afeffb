// The errors the SDK throws: one class per kind of problem response (RFC 9457, told apart by
// their `type`), and one for a request that got no response at all. Shared by every version of
// the API.

/** A problem document (RFC 9457) as the Agora API sends it. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId: string;
  errors?: { pointer: string; detail: string }[];
  currentVersion?: number;
}

/** A problem response from the API, as an Error. Its subclasses name the common kinds. */
export class AgoraError extends Error {
  readonly status: number;
  /** A `urn:agora:problem:…` URN, listed in the API description. */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** The id under which the server logged the request: quote it when reporting a problem. */
  readonly requestId: string;
  /** One entry per offending field (`pointer` is a JSON Pointer such as `/email` or `query/limit`). */
  readonly errors: readonly { pointer: string; detail: string }[];
  readonly problem: ProblemDocument;
  readonly response: Response;

  constructor(problem: ProblemDocument, response: Response) {
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

/** `400` `validation-error` or `malformed-request`: `errors` points at each offending field. */
export class ValidationError extends AgoraError {
  override readonly name = 'ValidationError';
  /** The JSON Pointers of the offending fields, e.g. `['/email', 'query/limit']`. */
  get pointers(): string[] {
    return this.errors.map((e) => e.pointer);
  }
}

/** `401`: no valid session token (`unauthenticated`), or a failed sign-in (`invalid-credentials`). */
export class AuthenticationError extends AgoraError {
  override readonly name = 'AuthenticationError';
}

/** `403`: signed in, but not allowed. */
export class PermissionDeniedError extends AgoraError {
  override readonly name = 'PermissionDeniedError';
}

/** `404`: no such resource, or one you may not know exists. */
export class NotFoundError extends AgoraError {
  override readonly name = 'NotFoundError';
}

/** `409`: the request conflicts with the current state (e.g. a handle that is taken). */
export class ConflictError extends AgoraError {
  override readonly name = 'ConflictError';
}

/** `412`: the resource changed since you read it. Re-read it (or use `currentVersion`) and retry. */
export class PreconditionFailedError extends AgoraError {
  override readonly name = 'PreconditionFailedError';
  /** The resource's current version. */
  readonly currentVersion: number | undefined;
  constructor(problem: ProblemDocument, response: Response) {
    super(problem, response);
    this.currentVersion = problem.currentVersion;
  }
}

/** `429`: too many requests. `retryAfterMs` says how long the server asked you to wait. */
export class RateLimitedError extends AgoraError {
  override readonly name = 'RateLimitedError';
  /** From `Retry-After`, in milliseconds; undefined when the response had none. */
  readonly retryAfterMs: number | undefined;
  constructor(problem: ProblemDocument, response: Response) {
    super(problem, response);
    this.retryAfterMs = retryAfterMs(response);
  }
}

/** `503`: the server is overloaded or cannot reach its database; try again after `retryAfterMs`. */
export class UnavailableError extends AgoraError {
  override readonly name = 'UnavailableError';
  /** From `Retry-After`, in milliseconds; undefined when the response had none. */
  readonly retryAfterMs: number | undefined;
  constructor(problem: ProblemDocument, response: Response) {
    super(problem, response);
    this.retryAfterMs = retryAfterMs(response);
  }
}

/** The request got no response: the server could not be reached or the connection broke. */
export class AgoraConnectionError extends Error {
  override readonly name: string = 'AgoraConnectionError';
  readonly method: string;
  readonly url: string;
  constructor(request: Request, cause: unknown, message?: string) {
    super(message ?? `${request.method} ${request.url} got no response: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.method = request.method;
    this.url = request.url;
  }
}

/** The request got no response within the client's `timeoutMs`. */
export class AgoraTimeoutError extends AgoraConnectionError {
  override readonly name = 'AgoraTimeoutError';
  readonly timeoutMs: number;
  constructor(request: Request, timeoutMs: number) {
    super(request, undefined, `${request.method} ${request.url} got no response within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const BY_TYPE: Record<string, new (problem: ProblemDocument, response: Response) => AgoraError> = {
  'urn:agora:problem:validation-error': ValidationError,
  'urn:agora:problem:malformed-request': ValidationError,
  'urn:agora:problem:unauthenticated': AuthenticationError,
  'urn:agora:problem:invalid-credentials': AuthenticationError,
  'urn:agora:problem:forbidden': PermissionDeniedError,
  'urn:agora:problem:not-found': NotFoundError,
  'urn:agora:problem:conflict': ConflictError,
  'urn:agora:problem:idempotency-in-flight': ConflictError,
  'urn:agora:problem:precondition-failed': PreconditionFailedError,
  'urn:agora:problem:rate-limited': RateLimitedError,
  'urn:agora:problem:service-unavailable': UnavailableError,
};

const BY_STATUS: Record<number, new (problem: ProblemDocument, response: Response) => AgoraError> = {
  400: ValidationError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  412: PreconditionFailedError,
  429: RateLimitedError,
  503: UnavailableError,
};

function isProblem(value: unknown): value is ProblemDocument {
  return !!value && typeof value === 'object' && typeof (value as ProblemDocument).type === 'string' && typeof (value as ProblemDocument).status === 'number';
}

/**
 * The error for a failed response: the class its problem `type` names, else the one its status
 * names (a response that is not a problem document, e.g. from a proxy), else `AgoraError`.
 */
export function toError(body: unknown, response: Response): AgoraError {
  const problem: ProblemDocument = isProblem(body)
    ? body
    : {
        type: response.status >= 500 ? 'urn:agora:problem:internal-error' : 'about:blank',
        title: response.statusText || `HTTP ${response.status}`,
        status: response.status,
        ...(typeof body === 'string' && body !== '' ? { detail: body.slice(0, 2000) } : {}),
        requestId: response.headers.get('x-request-id') ?? '',
      };
  const Class = BY_TYPE[problem.type] ?? BY_STATUS[response.status] ?? AgoraError;
  return new Class(problem, response);
}
