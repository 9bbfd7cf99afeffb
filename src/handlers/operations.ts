// The shape every handler has, derived from the generated contract: a handler that returns a
// status or body the spec does not declare for its operation does not compile.
import type { operations } from '../../generated/api.d.ts';
import type { Caller } from '../services/accounts/index.ts';

export type OperationId = keyof operations;
type Op<K extends OperationId> = operations[K];

type Part<T> = [NonNullable<T>] extends [never] ? Record<string, never> : NonNullable<T>;

type RequestBody<K extends OperationId> = Op<K>['requestBody'] extends { content: infer C }
  ? C[keyof C]
  : Op<K>['requestBody'] extends { content: infer C } | undefined
    ? C[keyof C] | undefined
    : undefined;

/** Header names as Node delivers them: lower-case. */
type LowerCaseKeys<T> = { [P in keyof T as Lowercase<P & string>]: T[P] };

export interface OperationRequest<K extends OperationId> {
  path: Part<Op<K>['parameters']['path']>;
  query: Part<Op<K>['parameters']['query']>;
  headers: LowerCaseKeys<Part<Op<K>['parameters']['header']>>;
  body: RequestBody<K>;
  /** The signed-in caller, or null for an anonymous one (only on operations that allow it). */
  caller: Caller | null;
}

type SuccessStatus<K extends OperationId> = Extract<keyof Op<K>['responses'], 200 | 201 | 202 | 204 | 304>;

type ReplyFor<R, S> = R extends { content: { 'application/json': infer B } }
  ? { status: S; body: B; headers?: Record<string, string> }
  : { status: S; body?: undefined; headers?: Record<string, string> };

export type OperationReply<K extends OperationId> = {
  [S in SuccessStatus<K>]: ReplyFor<Op<K>['responses'][S], S>;
}[SuccessStatus<K>];

export type Handler<K extends OperationId> = (request: OperationRequest<K>) => Promise<OperationReply<K>>;

/** One handler per operation in the spec; a missing one is a type error. */
export type Handlers = { [K in OperationId]: Handler<K> };

export type Schemas = import('../../generated/api.d.ts').components['schemas'];
