// Binds every operation of the spec to its handler through fastify-openapi-glue. An operation
// without a handler stops the server at start-up; bearer tokens are checked by the glue's
// security handlers; unknown query parameters are refused like unknown body properties.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import fp from 'fastify-plugin';
import { ApiProblem, WWW_AUTHENTICATE, type Authenticate, type Handlers, type OperationId } from '../handlers/index.ts';
import { HTTP_METHODS, type OpenApiDocument } from './spec.ts';
import './types.ts';

export interface RoutesOptions {
  document: OpenApiDocument;
  prefix: string;
  handlers: Handlers;
  authenticate: Authenticate;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1] : '';
}

function strictQuery(route: RouteOptions): void {
  const schema = route.schema as { operationId?: string; querystring?: Record<string, unknown> } | undefined;
  if (!schema?.operationId) return;
  schema.querystring = { type: 'object', properties: {}, ...schema.querystring, additionalProperties: false };
}

type Json = Record<string, any>;

/** The header parameters of each operation, named as the spec spells them (`If-Match`). */
function declaredHeaders(document: OpenApiDocument): Map<string, string[]> {
  const resolve = (node: Json): Json =>
    typeof node.$ref === 'string' ? (node.$ref.slice(2).split('/').reduce((o: Json, k: string) => o[k], document as Json) as Json) : node;
  const names = new Map<string, string[]>();
  for (const item of Object.values(document.paths) as Json[]) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation?.operationId) continue;
      const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve);
      names.set(operation.operationId, parameters.filter((p) => p.in === 'header').map((p) => String(p.name)));
    }
  }
  return names;
}

export const routes = fp(async (app: FastifyInstance, options: RoutesOptions) => {
  // Handlers see the headers their operation declares, under the spec's names (`If-Match`);
  // Node gives every header name in lower case.
  const headerNames = declaredHeaders(options.document);
  app.decorateRequest('caller', null);
  app.decorateRequest('authFailure', null);
  app.addHook('onRoute', strictQuery);

  const securityHandlers = {
    async bearerAuth(request: FastifyRequest) {
      const token = bearerToken(request);
      if (token === undefined) {
        throw new ApiProblem('unauthenticated', 'send a session token as "Authorization: Bearer <token>"', {
          headers: { 'www-authenticate': WWW_AUTHENTICATE },
        });
      }
      try {
        request.caller = await options.authenticate(token);
      } catch (error) {
        // Remembered so that operations open to anonymous callers still refuse a bad token.
        if (error instanceof ApiProblem && error.status === 401) request.authFailure = error;
        throw error;
      }
    },
  };

  await app.register(openapiGlue, {
    specification: options.document,
    prefix: options.prefix,
    securityHandlers,
    operationResolver: (operationId: string) => {
      const handler = options.handlers[operationId as OperationId] as ((r: unknown) => Promise<{ status: number; body?: unknown; headers?: Record<string, string> }>) | undefined;
      if (!handler) throw new Error(`openapi.yaml declares operation "${operationId}" but no handler implements it`);
      const names = headerNames.get(operationId) ?? [];
      return async (request: FastifyRequest, reply: FastifyReply) => {
        if (request.authFailure) throw request.authFailure;
        const headers = Object.fromEntries(names.map((name) => [name, request.headers[name.toLowerCase()]]).filter(([, v]) => v !== undefined));
        const result = await handler({
          path: request.params,
          query: request.query,
          headers,
          body: request.body,
          caller: request.caller,
        });
        reply.code(result.status);
        if (result.headers) reply.headers(result.headers);
        if (result.body === undefined) return reply.send();
        return reply.type('application/json; charset=utf-8').send(result.body);
      };
    },
  });
});
