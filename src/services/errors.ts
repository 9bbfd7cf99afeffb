// The errors every service may raise. They describe what went wrong in domain terms; what that
// means on the wire is decided in one place, src/http/plugins/errors.ts.

export abstract class ServiceError extends Error {
  abstract readonly kind: string;
}

export class NotFound extends ServiceError {
  readonly kind = 'not-found';
  constructor(what: string) {
    super(`${what} not found`);
  }
}

/** The caller is known but may not do this. */
export class Forbidden extends ServiceError {
  readonly kind = 'forbidden';
}

/** The request contradicts the current state, e.g. a unique value already in use. */
export class Conflict extends ServiceError {
  readonly kind = 'conflict';
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(message);
    this.field = field;
  }
}

/** An optimistic-concurrency check failed: the caller's version is not the current one. */
export class PreconditionFailed extends ServiceError {
  readonly kind = 'precondition-failed';
  readonly currentVersion: number;
  constructor(currentVersion: number) {
    super(`the current version is ${currentVersion}`);
    this.currentVersion = currentVersion;
  }
}

/** No usable credential: absent, unknown, expired or revoked. */
export class Unauthenticated extends ServiceError {
  readonly kind = 'unauthenticated';
}

/** The action needs a signed-in caller, and the caller is anonymous (no credential at all). */
export class SignInRequired extends ServiceError {
  readonly kind = 'sign-in-required';
  constructor() {
    super('sign in first');
  }
}

/** Sign-in failed. Deliberately says nothing about which part was wrong. */
export class InvalidCredentials extends ServiceError {
  readonly kind = 'invalid-credentials';
  constructor() {
    super('the email and password do not match an account');
  }
}

export interface FieldError {
  /** The input's field name, as the service's caller passed it. */
  field: string;
  detail: string;
}

/** Input that passes the schema but breaks a rule only the service knows. */
export class InvalidInput extends ServiceError {
  readonly kind = 'invalid-input';
  readonly errors: FieldError[];
  constructor(errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.detail}`).join('; '));
    this.errors = errors;
  }
}

/** Another request with the same idempotency key is still running; try again shortly. */
export class IdempotencyKeyInFlight extends ServiceError {
  readonly kind = 'idempotency-key-in-flight';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(`a request with this idempotency key is still being processed; retry in ${retryAfterSeconds} s with the same key`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The idempotency key was used before, for a different request. */
export class IdempotencyKeyReused extends ServiceError {
  readonly kind = 'idempotency-key-reused';
  constructor() {
    super('this idempotency key was already used for a different request; send a fresh key with a new request');
  }
}

/**
 * A domain served by another process (its `<DOMAIN>_SERVICE_URL`) did not answer: refused, reset,
 * or past the call's deadline. The request can be retried once it is back.
 */
export class ServiceUnavailable extends ServiceError {
  readonly kind = 'service-unavailable';
  /** The domain that did not answer, e.g. `social`. */
  readonly target: string;
  readonly retryAfterSeconds: number;
  constructor(target: string, reason: string, retryAfterSeconds: number) {
    super(`the ${target} service is unavailable (${reason}); retry in ${retryAfterSeconds} s`);
    this.target = target;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
