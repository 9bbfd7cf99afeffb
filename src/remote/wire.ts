// What crosses the wire between an API instance and a domain server: a service interface's
// methods as operations of an internal OpenAPI document (generated/internal/<domain>.d.ts), their
// arguments and results in JSON (dates as strings), and the services' errors by kind. The types
// here tie a service interface to its generated operations, so that a change to either side that
// the other does not follow fails the build.
import {
  Conflict,
  Forbidden,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidCredentials,
  InvalidInput,
  NotFound,
  PreconditionFailed,
  ServiceError,
  ServiceUnavailable,
  SignInRequired,
  Unauthenticated,
} from '../services/errors.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';

/**
 * A value as JSON carries it: dates become RFC 3339 strings, bigints decimal strings, a Map its
 * entries and another iterable (a Set) an array; nothing is read-only; a property that may be
 * undefined may be absent, and an undefined in an array (an argument) is a null.
 */
export type Wire<T> = T extends Date
  ? string
  : T extends bigint
    ? string
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: T[K] extends infer I ? (I extends undefined ? null : Wire<I>) : never }
      : T extends object
        ? T extends ReadonlyMap<infer K, infer V>
          ? [Wire<K>, Wire<V>][]
          : T extends Iterable<infer I>
            ? Wire<I>[]
            : WireObject<T>
        : T;

type MayBeUndefined<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];
type WireObject<T> = Flat<
  { -readonly [K in Exclude<keyof T, MayBeUndefined<T>>]: Wire<T[K]> } & { -readonly [K in MayBeUndefined<T>]?: Wire<Exclude<T[K], undefined>> }
>;
type Flat<T> = { [K in keyof T]: T[K] };

/** One generated operation (openapi-typescript's `operations[...]`), as far as the wire needs it. */
export interface AnyOperation {
  parameters: { header?: unknown };
  requestBody?: { content: { 'application/json': { args: readonly unknown[] } } };
  responses: object;
}

/** An operation's arguments, in order. */
export type ArgsOf<O> = O extends { requestBody?: { content: { 'application/json': { args: infer A } } } } ? A : never;
/** Its 200 response's body, or void when it answers 204. */
export type ResultOf<O> = O extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : void;
/** The lines of its 200 response when it answers a stream (`application/x-ndjson`, one JSON value a line), or never. */
export type LinesOf<O> = O extends { responses: { 200: { content: { 'application/x-ndjson': infer L } } } } ? L : never;
/** Whether it takes Idempotency-Key (`x-idempotent` in its document). */
export type IsKeyed<O> = O extends { parameters: { header?: infer H } } ? ([NonNullable<H>] extends [never] ? false : true) : false;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** A method's arguments without its trailing unit of work, and whether it takes one. */
type MethodArgs<F> = F extends (...args: infer P) => unknown
  ? Required<P> extends [...infer A, UnitOfWork]
    ? { args: A; keyed: true }
    : { args: P; keyed: false }
  : never;

type MethodResult<F> = F extends (...args: never[]) => Promise<infer R> ? R : never;

/** A method's arguments as JSON carries them: an argument that may be undefined is null there (JSON has no undefined in an array). */
type WireArgs<A> = { [K in keyof A]: undefined extends A[K] ? Wire<Exclude<A[K], undefined>> | null : Wire<A[K]> };

/** Why `method` and operation `O` disagree, or never. */
type Disagreement<Name extends string, F, O> =
  | (Equal<WireArgs<MethodArgs<F>['args']>, ArgsOf<O>> extends true ? never : `${Name}: its arguments differ from the operation's args`)
  | (MethodResult<F> extends AsyncIterator<infer E>
      ? Equal<Wire<E>, LinesOf<O>> extends true
        ? never
        : `${Name}: the items it yields differ from the lines of the operation's stream`
      : Equal<Wire<MethodResult<F>>, ResultOf<O>> extends true
        ? never
        : `${Name}: its result differs from the operation's response`)
  | (Equal<MethodArgs<F>['keyed'], IsKeyed<O>> extends true
      ? never
      : `${Name}: takes a unit of work if and only if the operation takes Idempotency-Key (x-idempotent)`);

/**
 * Every way the service interface `S` and the generated operations `Ops` disagree: a method
 * without its operation, an operation without its method, or one whose arguments, result or
 * idempotency differ. `never` when they agree; `agree<S, Ops>(true)` fails to compile otherwise.
 */
export type Disagreements<S, Ops> =
  | { [K in keyof S]: K extends keyof Ops ? never : `method ${K & string} has no operation in the internal contract` }[keyof S]
  | { [K in keyof Ops]: K extends keyof S ? never : `operation ${K & string} is no method of the service interface` }[keyof Ops]
  | { [K in keyof S & keyof Ops]: Disagreement<K & string, S[K], Ops[K]> }[keyof S & keyof Ops];

/** Compiles only when `S` and `Ops` agree; the error names what differs. */
export function agree<S, Ops>(check: [Disagreements<S, Ops>] extends [never] ? true : Disagreements<S, Ops>): void {
  void check;
}

/** A service error on the wire (the internal contracts' `ServiceError`). */
export interface WireError {
  kind: string;
  message: string;
  field?: string;
  errors?: { field: string; detail: string }[];
  currentVersion?: number;
  retryAfterSeconds?: number;
  /** For `service-unavailable`: the domain that did not answer (one the domain server itself calls). */
  target?: string;
}

/** The call itself was not valid (the caller and the domain server disagree on the contract). */
export const BAD_CALL = 'bad-call';

const STATUS_OF_KIND: Record<string, number> = {
  'not-found': 404,
  forbidden: 403,
  conflict: 409,
  'invalid-input': 422,
  'precondition-failed': 412,
  unauthenticated: 401,
  'sign-in-required': 401,
  'invalid-credentials': 401,
  'idempotency-key-in-flight': 409,
  'idempotency-key-reused': 422,
  'too-many-streams': 429,
  // A domain the domain server calls in turn (served apart too, and down): the caller answers 503.
  'service-unavailable': 503,
  [BAD_CALL]: 400,
};

/** A service error as the domain server answers it. */
export function encodeError(error: ServiceError): { status: number; body: WireError } {
  const body: WireError = { kind: error.kind, message: error.message };
  if (error instanceof Conflict && error.field !== undefined) body.field = error.field;
  if (error instanceof InvalidInput) body.errors = error.errors;
  if (error instanceof PreconditionFailed) body.currentVersion = error.currentVersion;
  const { retryAfterSeconds } = error as { retryAfterSeconds?: unknown };
  if (typeof retryAfterSeconds === 'number') body.retryAfterSeconds = retryAfterSeconds;
  if (error instanceof ServiceUnavailable) body.target = error.target;
  return { status: STATUS_OF_KIND[error.kind] ?? 400, body };
}

/** The service error a domain server answered, as its caller raises it again; undefined for an unknown kind. */
export function decodeError(wire: WireError): ServiceError | undefined {
  const withMessage = <E extends Error>(error: E): E => Object.assign(error, { message: wire.message });
  switch (wire.kind) {
    case 'not-found':
      return withMessage(new NotFound(''));
    case 'forbidden':
      return new Forbidden(wire.message);
    case 'conflict':
      return new Conflict(wire.message, wire.field);
    case 'invalid-input':
      return new InvalidInput(wire.errors ?? []);
    case 'precondition-failed':
      return new PreconditionFailed(wire.currentVersion ?? 0);
    case 'unauthenticated':
      return new Unauthenticated(wire.message);
    case 'sign-in-required':
      return new SignInRequired();
    case 'invalid-credentials':
      return new InvalidCredentials();
    case 'idempotency-key-in-flight':
      return new IdempotencyKeyInFlight(wire.retryAfterSeconds ?? 1);
    case 'idempotency-key-reused':
      return new IdempotencyKeyReused();
    case 'service-unavailable':
      // Only with its target: the domain server's own database being unreachable says no target,
      // and its caller takes that as the domain server's unavailability.
      return wire.target === undefined ? undefined : withMessage(new ServiceUnavailable(wire.target, 'unavailable', wire.retryAfterSeconds ?? 1));
    default:
      return undefined;
  }
}
