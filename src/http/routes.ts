// Binds every operation of the contract to its handler through fastify-openapi-glue: an
// operation without a handler stops the server at start-up. Around each handler runs the
// operation's pipeline (pipeline.ts: authentication, idempotency, conditional requests, as the
// contract asks). OPTIONS operations have no handler of their own: each answers with the
// methods its path declares that the resource's permission function (the handlers'
// `allowedMethods`) lets the caller use.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import fp from 'fastify-plugin';
import type { EventSource, Handlers, HandlersV2, PermissionRequest } from '../handlers/index.ts';
import { allowedOf, assertConventions, assertOptionsCovered, declaredMethods, operationsOf } from './conventions.ts';
import { compose, contractOperation, inputLocations, send, type OperationPlugin } from './pipeline.ts';
import { shareResponseSchemas } from './serialization.ts';
import type { OpenApiDocument } from './spec.ts';
import './types.ts';

export interface RoutesOptions {
  document: OpenApiDocument;
  prefix: string;
  /** The handlers of this document's operations (one binding per API version). */
  handlers: Handlers | HandlersV2;
  /** The pipeline's plugins, outermost first (see pipeline.ts). */
  plugins: readonly OperationPlugin[];
}

type HandlerResult = { status: number; body?: unknown; headers?: Record<string, string>; events?: EventSource };
type Handler = (request: unknown) => Promise<HandlerResult>;

const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** Ids are UUIDs, which the schema accepts in either case; services compare them lower-case. */
function canonicalIds(params: unknown): unknown {
  if (!params || typeof params !== 'object') return params;
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : v]));
}

/** Unknown query parameters are refused like unknown body properties. */
function strictQuery(route: RouteOptions): void {
  const schema = route.schema as { operationId?: string; querystring?: Record<string, unknown> } | undefined;
  if (!schema?.operationId) return;
  schema.querystring = { type: 'object', properties: {}, ...schema.querystring, additionalProperties: false };
}

/** The handler of every OPTIONS operation: the methods declared on its path that the caller may use. */
function optionsHandlers(options: RoutesOptions): Map<string, Handler> {
  const { document, handlers } = options;
  assertOptionsCovered(document, new Set(Object.keys(handlers.allowedMethods)));
  return new Map(
    operationsOf(document)
      .filter((o) => o.method === 'options')
      .map((o) => {
        const declared = declaredMethods(document, o.path);
        const permission = handlers.allowedMethods[o.path]!;
        const handler = async (request: unknown): Promise<HandlerResult> => {
          const permitted = new Set(await permission(request as PermissionRequest));
          return { status: 204, headers: { allow: allowedOf(declared, permitted).join(', ') } };
        };
        return [o.operationId, handler] as const;
      }),
  );
}

export const routes = fp(async (app: FastifyInstance, options: RoutesOptions) => {
  assertConventions(options.document);
  const handlers = new Map([...Object.entries(options.handlers as unknown as Record<string, Handler>), ...optionsHandlers(options)]);

  // Registered once per API version (/v1, /v2) on the same app: what they share, once.
  if (!app.hasRequestDecorator('caller')) {
    app.decorateRequest('caller', null);
    app.decorateRequest('expectedVersion', undefined);
    app.decorateRequest('idempotencyKey', null);
    app.decorateRequest('idempotentReplayed', false);
    app.decorateRequest('unitOfWork', undefined);
    app.addHook('onRoute', strictQuery);
    app.addHook('onRoute', shareResponseSchemas);
  }

  // The glue warns of every media type of the contract that has no body parser, the responses'
  // (application/problem+json, text/event-stream) included, which no request carries: at every
  // start, in every log. It is asked about those as if they had one; a request body's media type
  // without a parser is still warned of.
  const hasParser = app.hasContentTypeParser;
  const requestTypes = requestMediaTypes(options.document);
  app.hasContentTypeParser = function (contentType) {
    return hasParser.call(this, contentType) || (typeof contentType === 'string' && !requestTypes.has(contentType));
  };
  try {
    await registerGlue(app, options, handlers);
  } finally {
    app.hasContentTypeParser = hasParser;
  }
});

/** The media types the contract's request bodies take. */
function requestMediaTypes(document: OpenApiDocument): Set<string> {
  const types = new Set<string>();
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      const content = (operation as { requestBody?: { content?: Record<string, unknown> } } | null)?.requestBody?.content;
      for (const type of Object.keys(content ?? {})) types.add(type);
    }
  }
  return types;
}

async function registerGlue(app: FastifyInstance, options: RoutesOptions, handlers: Map<string, Handler>): Promise<void> {
  await app.register(openapiGlue, {
    specification: options.document,
    prefix: options.prefix,
    operationResolver: (operationId: string, method: string, path: string) => {
      const handler = handlers.get(operationId);
      if (!handler) throw new Error(`the contract of ${options.prefix} declares operation "${operationId}" but no handler implements it`);
      const operation = contractOperation(options.document, method.toLowerCase(), path, options.prefix);
      const respond = compose(options.plugins, operation, async (request) => {
        const result = await handler({
          path: canonicalIds(request.params),
          query: request.query,
          headers: request.headers,
          body: request.body,
          caller: request.caller,
          expectedVersion: request.expectedVersion,
          unitOfWork: request.unitOfWork,
        });
        // A stream (text/event-stream) is written by plugins/event-stream.ts, as its events come.
        if (result.events) return { status: result.status, headers: result.headers ?? {}, events: result.events };
        return { status: result.status, headers: result.headers ?? {}, body: result.body };
      });
      // Route options to add to the glue's own (method, url, schema): typed as whole ones.
      return {
        config: { inputs: inputLocations(operation) },
        handler: async (request: FastifyRequest, reply: FastifyReply) => send(reply, await respond(request, reply)),
      } as unknown as RouteOptions;
    },
  });
}
