// Problem details (RFC 9457): the one error shape of the API. What each error becomes is
// decided in one place, src/http/plugins/errors.ts.
import type { Schemas } from './operations.ts';

export type ProblemType = Schemas['Problem']['type'];
type Slug = ProblemType extends `urn:agora:problem:${infer S}` ? S : never;

export const PROBLEMS: Record<Slug, { status: number; title: string }> = {
  'validation-error': { status: 400, title: 'The request is not valid' },
  'malformed-request': { status: 400, title: 'The request could not be read' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  'invalid-credentials': { status: 401, title: 'Invalid email or password' },
  forbidden: { status: 403, title: 'Not allowed' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict with the current state' },
  'idempotency-in-flight': { status: 409, title: 'A request with this idempotency key is in progress' },
  'precondition-failed': { status: 412, title: 'The resource has changed' },
  'request-timeout': { status: 408, title: 'The request took too long to arrive' },
  'payload-too-large': { status: 413, title: 'The body is too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported content type' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused with a different request' },
  'precondition-required': { status: 428, title: 'If-Match required' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  'internal-error': { status: 500, title: 'Internal server error' },
  'service-unavailable': { status: 503, title: 'Service unavailable' },
};

/** The Problem schema's bounds in openapi.yaml (test/problem-bounds.test.ts holds them equal). */
export const PROBLEM_LIMITS = { detail: 2000, instance: 2048, errors: 100, pointer: 300, errorDetail: 500 } as const;

/**
 * `text`, cut to at most `max` characters (ending in an ellipsis when cut, and never in half a
 * surrogate pair): for echoing what a client sent in a problem's words.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).replace(/[\uD800-\uDBFF]$/, '')}…`;
}

/** How much of a client's input (a path, a header) a problem's `detail` quotes. */
export const ECHO_LENGTH = 200;

export interface FieldProblem {
  pointer: string;
  detail: string;
}

/** An error that already knows its problem response. Handlers and middleware throw it. */
export class ApiProblem extends Error {
  readonly slug: Slug;
  readonly status: number;
  readonly errors: FieldProblem[] | undefined;
  readonly extensions: { currentVersion?: number };
  readonly headers: Record<string, string>;

  constructor(
    slug: Slug,
    detail: string,
    options: { errors?: FieldProblem[]; extensions?: { currentVersion?: number }; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.slug = slug;
    this.status = PROBLEMS[slug].status;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  /**
   * The problem document. It keeps within the Problem schema whatever the client sent: an
   * `instance` too long for it is left out (a cut path would name another resource), texts are
   * cut, and only the first errors are listed.
   */
  body(instance: string | undefined, requestId: string): Schemas['Problem'] {
    const errors = this.errors?.slice(0, PROBLEM_LIMITS.errors).map((e) => ({
      pointer: clip(e.pointer, PROBLEM_LIMITS.pointer),
      detail: clip(e.detail, PROBLEM_LIMITS.errorDetail),
    }));
    return {
      type: `urn:agora:problem:${this.slug}`,
      title: PROBLEMS[this.slug].title,
      status: this.status,
      detail: clip(this.message, PROBLEM_LIMITS.detail),
      ...(instance !== undefined && instance.length <= PROBLEM_LIMITS.instance ? { instance } : {}),
      requestId,
      ...(errors ? { errors } : {}),
      ...this.extensions,
    };
  }
}

export const WWW_AUTHENTICATE = 'Bearer realm="agora"';
