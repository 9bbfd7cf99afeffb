// The shape every handler has, derived from a generated contract: a handler that returns a
// status or body the spec does not declare for its operation does not compile. The types take
// the contract's `operations` as a parameter, so each API version's handlers are typed from its
// own document (v1 from generated/api.d.ts, v2 from generated/api-v2.d.ts).
import type { operations } from '../../generated/api.d.ts';
import type { Caller } from '../services/accounts/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { AllowedMethods } from './allowed.ts';

type Part<T> = [NonNullable<T>] extends [never] ? Record<string, never> : NonNullable<T>;

type RequestBody<Op> = Op extends { requestBody: { content: infer C } }
  ? C[keyof C]
  : Op extends { requestBody?: { content: infer C } }
    ? C[keyof C] | undefined
    : undefined;

/** Header names as Node delivers them: lower-case. */
type LowerCaseKeys<T> = { [P in keyof T as Lowercase<P & string>]: T[P] };

type Parameters<Op> = Op extends { parameters: infer P } ? P : never;
type ParameterPart<Op, In extends string> = Part<Parameters<Op> extends Record<In, infer T> ? T : never>;

/**
 * On operations that declare If-Match: the version it names, for the service to compare with
 * the current one (undefined: no precondition; -1: a tag that can never match). The
 * conditional-requests plugin reads the header (src/http/plugins/conditional.ts).
 */
type Preconditions<Op> = 'If-Match' extends keyof ParameterPart<Op, 'header'> ? { expectedVersion: number | undefined } : unknown;

export type RequestOf<Op> = {
  path: ParameterPart<Op, 'path'>;
  query: ParameterPart<Op, 'query'>;
  headers: LowerCaseKeys<ParameterPart<Op, 'header'>>;
  body: RequestBody<Op>;
  /** The signed-in caller, or null for an anonymous one (only on operations that allow it). */
  caller: Caller | null;
  /**
   * The unit of work of a request sent with an Idempotency-Key (`x-idempotent` operations): the
   * handler passes it to the service call that writes, so that the data and the key's record
   * commit together. Undefined for a request without a key.
   */
  unitOfWork?: UnitOfWork;
} & Preconditions<Op>;

type Responses<Op> = Op extends { responses: infer R } ? R : never;
type SuccessStatus<Op> = Extract<keyof Responses<Op>, 200 | 201 | 202 | 204 | 304>;

/** One Server-Sent Event as the transport writes it: `id:`, `event:`, and `data:` (as JSON). */
export interface SentEvent {
  id: string;
  event: string;
  data: unknown;
}

/**
 * What an operation answering `text/event-stream` returns instead of a body: its events, pulled
 * one at a time as the client takes them; `return()` ends them (the client left, or the server
 * is shutting down).
 */
export type EventSource = AsyncIterator<SentEvent> & { return(): Promise<IteratorResult<SentEvent>> };

type ReplyFor<R, S> = R extends { content: { 'application/json': infer B } }
  ? { status: S; body: B; headers?: Record<string, string> }
  : R extends { content: { 'text/event-stream': unknown } }
    ? { status: S; events: EventSource; body?: undefined; headers?: Record<string, string> }
    : { status: S; body?: undefined; headers?: Record<string, string> };

export type ReplyOf<Op> = {
  [S in SuccessStatus<Op>]: ReplyFor<Responses<Op>[S], S>;
}[SuccessStatus<Op>];

/** The OPTIONS operations, answered from the contract and the permission functions (allowed.ts), not by handlers of their own. */
export type OptionsOperationId<Ops> = Extract<keyof Ops, `options${string}`>;

/**
 * One handler per operation of a contract (a missing one is a type error), OPTIONS apart, and
 * the permission function of every resource path for the OPTIONS operations.
 */
export type HandlersOf<Ops> = { [K in Exclude<keyof Ops, OptionsOperationId<Ops>>]: (request: RequestOf<Ops[K]>) => Promise<ReplyOf<Ops[K]>> } & {
  allowedMethods: AllowedMethods;
};

export type OperationId = keyof operations;
export type OperationRequest<K extends OperationId> = RequestOf<operations[K]>;
export type OperationReply<K extends OperationId> = ReplyOf<operations[K]>;
export type Handler<K extends OperationId> = (request: OperationRequest<K>) => Promise<OperationReply<K>>;

/** One handler per operation in openapi.yaml; a missing one is a type error. */
export type Handlers = HandlersOf<operations>;

export type Schemas = import('../../generated/api.d.ts').components['schemas'];
