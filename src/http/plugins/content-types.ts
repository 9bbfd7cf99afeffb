// Bodies are JSON: application/json, and application/merge-patch+json where an operation takes a
// merge patch. A body in any type its operation does not declare is refused with 415 before
// it is parsed.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem, ECHO_LENGTH, clip } from '../../handlers/index.ts';
import { addRouteHook } from '../route-hooks.ts';

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

type HookDone = (error?: Error) => void;

/** The JSON Pointer of the first string (key or value) holding a NUL, which PostgreSQL text cannot store. */
function nulPointer(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const here = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (key.includes('\u0000')) return here;
    const found = nulPointer(child, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const contentTypes = fp(async (app: FastifyInstance) => {
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, parseJson);

  // With no Content-Type Fastify picks no body schema, so a missing body is ours to refuse
  // (every operation of this API that takes a body requires one).
  const bodyRequired = (request: FastifyRequest, _reply: FastifyReply, done: HookDone) => {
    if (request.body !== undefined) return done();
    done(
      new ApiProblem('validation-error', 'this operation needs a JSON body', {
        errors: [{ pointer: '', detail: 'a request body is required' }],
      }),
    );
  };
  // After schema validation, so the body's shape (and depth) is already bounded.
  const noNul = (request: FastifyRequest, _reply: FastifyReply, done: HookDone) => {
    const pointer = nulPointer(request.body);
    if (pointer === undefined) return done();
    done(
      new ApiProblem('validation-error', 'text may not contain NUL characters', {
        errors: [{ pointer, detail: 'must not contain the NUL character (\\u0000)' }],
      }),
    );
  };
  const declaredType = (declared: string[]) => (request: FastifyRequest, _reply: FastifyReply, done: HookDone) => {
    if (!hasBody(request.headers)) return done();
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (declared.includes(type)) return done();
    done(new ApiProblem('unsupported-media-type', `send the body as ${declared.join(' or ')}${type ? `, not ${clip(type, ECHO_LENGTH)}` : ''}`));
  };

  // Only the operations that take a body get these checks, as hooks of their own routes: the
  // others pay nothing for them. Each runs where the global hook it replaces ran: the type check
  // after every global onRequest hook (the rate limit, load shedding), the NUL check before the
  // sign-in rate limit's preHandler (plugins/rate-limit.ts), so a refused body costs no attempt.
  app.addHook('onRoute', (route: RouteOptions) => {
    const content = (route.schema?.body as { content?: Record<string, unknown> } | undefined)?.content;
    if (!content) return;
    addRouteHook(route, 'onRequest', declaredType(Object.keys(content)), 'last');
    addRouteHook(route, 'preValidation', bodyRequired, 'first');
    addRouteHook(route, 'preHandler', noNul, 'first');
  });
});
