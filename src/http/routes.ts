// Binds every operation of the spec to its handler through fastify-openapi-glue. An operation
// without a handler stops the server at start-up; bearer tokens are checked by the glue's
// security handlers; unknown query parameters are refused like unknown body properties.
//
// The wrapper around every handler is also where the spec-driven mechanisms live, declared
// once for all operations: `x-idempotent: true` operations run at most once per
// Idempotency-Key, and a GET whose answer carries an ETag answers If-None-Match with 304. OPTIONS
// operations have no handler of their own: each answers with the methods its path declares that
// the resource's permission function (the handlers' `allowedMethods`) lets the caller use.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import fp from 'fastify-plugin';
import {
  ApiProblem,
  WWW_AUTHENTICATE,
  idempotencyKey,
  noneMatchHits,
  type Authenticate,
  type EventSource,
  type PermissionRequest,
  type Handlers,
  type HandlersV2,
  type RunIdempotently,
  type WireResponse,
} from '../handlers/index.ts';
import { allowedOf, assertConventions, assertOptionsCovered, declaredMethods, operationsOf } from './conventions.ts';
import { toProblem } from './plugins/errors.ts';
import type { OpenApiDocument } from './spec.ts';
import './types.ts';

export interface RoutesOptions {
  document: OpenApiDocument;
  prefix: string;
  /** The handlers of this document's operations (one binding per API version). */
  handlers: Handlers | HandlersV2;
  authenticate: Authenticate;
  runIdempotently: RunIdempotently;
  /** Called once per response replayed for an Idempotency-Key (for metrics). */
  onIdempotentReplay?: (operationId: string) => void;
}

type HandlerResult = { status: number; body?: unknown; headers?: Record<string, string>; events?: EventSource };

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1] : '';
}

const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** Ids are UUIDs, which the schema accepts in either case; services compare them lower-case. */
function canonicalIds(params: unknown): unknown {
  if (!params || typeof params !== 'object') return params;
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : v]));
}

function strictQuery(route: RouteOptions): void {
  const schema = route.schema as { operationId?: string; querystring?: Record<string, unknown> } | undefined;
  if (!schema?.operationId) return;
  schema.querystring = { type: 'object', properties: {}, ...schema.querystring, additionalProperties: false };
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

function send(reply: FastifyReply, response: WireResponse) {
  const { 'content-type': type, ...headers } = response.headers;
  reply.code(response.status).headers(headers);
  if (response.body === undefined) return reply.send();
  return reply.type(type ?? JSON_TYPE).send(response.body);
}

/** A problem an operation answered with, as a response that can be recorded and replayed. */
function problemResponse(request: FastifyRequest, problem: ApiProblem): WireResponse {
  return {
    status: problem.status,
    headers: { ...problem.headers, 'content-type': PROBLEM_TYPE },
    body: problem.body(request.url.split('?')[0] ?? request.url, request.id),
  };
}

/**
 * The answer to a request without a bearer token. Made once: operations open to anonymous
 * callers meet it at every anonymous request, and an Error costs a stack trace to construct.
 */
const NO_TOKEN = new ApiProblem('unauthenticated', 'send a session token as "Authorization: Bearer <token>"', {
  headers: { 'www-authenticate': WWW_AUTHENTICATE },
});

export const routes = fp(async (app: FastifyInstance, options: RoutesOptions) => {
  assertConventions(options.document);
  const { allowedMethods } = options.handlers;
  assertOptionsCovered(options.document, new Set(Object.keys(allowedMethods)));
  // OPTIONS comes from the contract: every OPTIONS operation answers with the methods declared
  // on its path that the resource's permission function lets the caller use.
  const optionsOf = new Map(
    operationsOf(options.document)
      .filter((o) => o.method === 'options')
      .map((o) => {
        const declared = declaredMethods(options.document, o.path);
        const permission = allowedMethods[o.path]!;
        const handler = async (request: unknown): Promise<HandlerResult> => {
          const permitted = new Set(await permission(request as PermissionRequest));
          return { status: 204, headers: { allow: allowedOf(declared, permitted).join(', ') } };
        };
        return [o.operationId, handler] as const;
      }),
  );
  const idempotent = new Set(operationsOf(options.document).filter((o) => o.operation['x-idempotent'] === true).map((o) => o.operationId));

  // Registered once per API version (/v1, /v2) on the same app: what they share, once.
  if (!app.hasRequestDecorator('caller')) {
    app.decorateRequest('caller', null);
    app.decorateRequest('authFailure', null);
    app.decorateRequest('idempotencyKey', null);
    app.decorateRequest('idempotentReplayed', false);
    app.addHook('onRoute', strictQuery);
  }

  const securityHandlers = {
    async bearerAuth(request: FastifyRequest) {
      const token = bearerToken(request);
      if (token === undefined) throw NO_TOKEN;
      try {
        request.caller = await options.authenticate(token);
      } catch (error) {
        // Remembered so that operations open to anonymous callers still refuse a bad token.
        if (error instanceof ApiProblem && error.status === 401) request.authFailure = error;
        throw error;
      }
    },
  };

  /** Runs the operation once per key; a retry gets the first response again. */
  async function runKeyed(request: FastifyRequest, reply: FastifyReply, operationId: string, header: string, run: () => Promise<HandlerResult>) {
    const key = idempotencyKey(header);
    request.idempotencyKey = key;
    request.log = reply.log = request.log.child({ idempotencyKey: key });
    const { response, replayed } = await options.runIdempotently(
      { operationId, caller: request.caller, key, method: request.method, params: request.params, query: request.query, body: request.body },
      async () => {
        try {
          const result = await run();
          return { status: result.status, headers: result.headers ?? {}, body: result.body };
        } catch (error) {
          // The operation's own refusals (a taken handle, say) are its answer, kept for retries.
          // Anything else is a failure on our side: thrown, it rolls back and keeps nothing.
          const problem = toProblem(error);
          if (!problem || problem.status >= 500) throw error;
          return problemResponse(request, problem);
        }
      },
    );
    if (replayed) {
      request.idempotentReplayed = true;
      request.log = reply.log = request.log.child({ idempotentReplayed: true });
      options.onIdempotentReplay?.(operationId);
      reply.header('idempotent-replayed', 'true');
    }
    return send(reply, response);
  }

  await app.register(openapiGlue, {
    specification: options.document,
    prefix: options.prefix,
    securityHandlers,
    operationResolver: (operationId: string) => {
      const handler = optionsOf.get(operationId) ?? (options.handlers as unknown as Record<string, (r: unknown) => Promise<HandlerResult>>)[operationId];
      if (!handler) throw new Error(`the contract of ${options.prefix} declares operation "${operationId}" but no handler implements it`);
      const keyed = idempotent.has(operationId);
      return async (request: FastifyRequest, reply: FastifyReply) => {
        if (request.authFailure) throw request.authFailure;
        const run = () =>
          handler({
            path: canonicalIds(request.params),
            query: request.query,
            headers: request.headers,
            body: request.body,
            caller: request.caller,
          });
        const header = request.headers['idempotency-key'];
        if (keyed && typeof header === 'string') return runKeyed(request, reply, operationId, header, run);

        const result = await run();
        // A stream (text/event-stream) is written by plugins/event-stream.ts.
        if (result.events) return reply.sendEvents(result.events);
        const etag = result.headers?.etag;
        if ((request.method === 'GET' || request.method === 'HEAD') && result.status === 200 && etag && noneMatchHits(request.headers['if-none-match'], etag)) {
          return reply.code(304).header('etag', etag).send();
        }
        return send(reply, { status: result.status, headers: result.headers ?? {}, body: result.body });
      };
    },
  });
});
