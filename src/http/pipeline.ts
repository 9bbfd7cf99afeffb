// The request pipeline of an operation, between the contract's validation and the reply. Each
// mechanism the contract can ask of an operation (a bearer token by its `security`, at most once
// per key by `x-idempotent`, conditional requests by its If-Match / If-None-Match headers) is one
// plugin in ./plugins/: given what the operation declares, it adds a stage around the handler, or
// nothing. app.ts lists the plugins in the order they run; routes.ts composes them per operation.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventSource } from '../handlers/index.ts';
import { resolveRef } from './conventions.ts';
import type { OpenApiDocument } from './spec.ts';

type Json = Record<string, any>;

/** An operation as its contract declares it: what the plugins decide by. */
export interface ContractOperation {
  operationId: string;
  /** Lower-case, as the contract spells it. */
  method: string;
  /** The path template, as the contract spells it: `/posts/{postId}`. */
  path: string;
  /** The prefix of the API version the operation is served under: `/v1`, `/v2`. */
  prefix: string;
  /** The security requirements that apply: the operation's own, or else the document's. */
  security: Record<string, string[]>[];
  /** Its parameters (the path's and its own): where each comes from, by name (header names lower-case). */
  parameters: Map<string, { in: string; required: boolean }>;
  /** The operation object itself, for extensions such as `x-idempotent`. */
  operation: Json;
}

/**
 * What the pipeline answers, not yet sent: a handler's body as a value for the route's serializer,
 * or (`serialized`) a recorded response's body, JSON text sent as it is (null for none), or
 * (`events`) the events of an operation answering `text/event-stream`, which
 * plugins/event-stream.ts writes as they come.
 */
export type Answer =
  | { status: number; headers: Record<string, string>; body: unknown; serialized?: false; events?: undefined }
  | { status: number; headers: Record<string, string>; body: string | null; serialized: true; events?: undefined }
  | { status: number; headers: Record<string, string>; body?: undefined; serialized?: false; events: EventSource };

/** The rest of the pipeline, down to the handler. */
export type Respond = (request: FastifyRequest, reply: FastifyReply) => Promise<Answer>;

/** A stage around the rest of the pipeline. */
export type Stage = (next: Respond) => Respond;

/** A plugin of the pipeline: the stage it adds to an operation, or undefined when the contract does not ask for it. */
export type OperationPlugin = (operation: ContractOperation) => Stage | undefined;

export function contractOperation(document: OpenApiDocument, method: string, path: string, prefix: string): ContractOperation {
  const item = document.paths[path] as Json;
  const operation = item[method] as Json;
  const parameters = new Map<string, { in: string; required: boolean }>();
  for (const declared of [...(item.parameters ?? []), ...(operation.parameters ?? [])]) {
    const p = resolveRef(document, declared);
    const name = p.in === 'header' ? String(p.name).toLowerCase() : String(p.name);
    parameters.set(name, { in: String(p.in), required: p.required === true });
  }
  return {
    operationId: String(operation.operationId),
    method,
    path,
    prefix,
    security: (operation.security ?? document.security ?? []) as Record<string, string[]>[],
    parameters,
    operation,
  };
}

/** Where each of an operation's query and path parameters comes from, as problem pointers name it (`query/cursor`). */
export function inputLocations(operation: ContractOperation): Record<string, string> {
  const locations: Record<string, string> = {};
  for (const [name, p] of operation.parameters) if (p.in === 'query' || p.in === 'path') locations[name] = `${p.in}/${name}`;
  return locations;
}

/** The operation's stages, in the order of `plugins` (the first is the outermost), around `handler`. */
export function compose(plugins: readonly OperationPlugin[], operation: ContractOperation, handler: Respond): Respond {
  return plugins
    .map((plugin) => plugin(operation))
    .filter((stage): stage is Stage => stage !== undefined)
    .reduceRight((next, stage) => stage(next), handler);
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function send(reply: FastifyReply, response: Answer) {
  if (response.events) return reply.sendEvents(response.events, response.headers);
  const { 'content-type': type, ...headers } = response.headers;
  reply.code(response.status).headers(headers);
  if (response.body === undefined || response.body === null) return reply.send();
  // A string is sent as it is: a recorded body is the JSON text the first answer was serialized to.
  return reply.type(type ?? JSON_TYPE).send(response.body);
}
