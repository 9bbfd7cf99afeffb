// Bodies are JSON: application/json, and application/merge-patch+json where an operation takes a
// merge patch. A body in any type its operation does not declare is refused with 415 before
// it is parsed.
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem, ECHO_LENGTH, clip } from '../../handlers/index.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    bodyTypes?: string[];
  }
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

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

  app.addHook('onRoute', (route: RouteOptions) => {
    const content = (route.schema?.body as { content?: Record<string, unknown> } | undefined)?.content;
    if (content) route.config = { ...(route.config as object), bodyTypes: Object.keys(content) };
  });

  // With no Content-Type Fastify picks no body schema, so a missing body is ours to refuse
  // (every operation of this API that takes a body requires one).
  app.addHook('preValidation', async (request) => {
    if (request.routeOptions.config.bodyTypes && request.body === undefined) {
      throw new ApiProblem('validation-error', 'this operation needs a JSON body', {
        errors: [{ pointer: '', detail: 'a request body is required' }],
      });
    }
  });

  // After schema validation, so the body's shape (and depth) is already bounded.
  app.addHook('preHandler', async (request) => {
    if (!request.routeOptions.config.bodyTypes) return;
    const pointer = nulPointer(request.body);
    if (pointer !== undefined) {
      throw new ApiProblem('validation-error', 'text may not contain NUL characters', {
        errors: [{ pointer, detail: 'must not contain the NUL character (\\u0000)' }],
      });
    }
  });

  app.addHook('onRequest', async (request) => {
    if (!hasBody(request.headers)) return;
    const declared = request.routeOptions.config.bodyTypes;
    if (!declared) return;
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!declared.includes(type)) {
      throw new ApiProblem('unsupported-media-type', `send the body as ${declared.join(' or ')}${type ? `, not ${clip(type, ECHO_LENGTH)}` : ''}`);
    }
  });
});
