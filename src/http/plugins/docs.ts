// The contract and its interactive reference, served by the server itself: /openapi.yaml as
// written, /openapi.json, and Scalar at /docs (its assets come from the package, not a CDN).
//
// Scalar's package holds its whole browser bundle as one string (about 5 MB of source, some
// 20 MB of heap once loaded). A server that nobody asks for /docs should not carry it, so it
// is loaded on the first request under /docs, into an inner Fastify instance that the /docs
// routes forward to.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Spec } from '../spec.ts';

const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

export async function docs(app: FastifyInstance, options: { spec: Spec }) {
  const json = JSON.stringify(options.spec.document);
  app.get('/openapi.yaml', async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(options.spec.text),
  );
  app.get('/openapi.json', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(json),
  );

  // Registered in its own context so that the relaxed CSP applies to the docs page alone.
  await app.register(async (docsApp) => {
    docsApp.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', DOCS_CSP);
    });
    let reference: Promise<FastifyInstance> | undefined;
    const load = () =>
      (reference ??= (async () => {
        const { default: scalar } = await import('@scalar/fastify-api-reference');
        const inner = Fastify({ logger: false });
        await inner.register(scalar, {
          routePrefix: '/docs',
          configuration: { url: '/openapi.json', withDefaultFonts: false, telemetry: false } as never,
        });
        await inner.ready();
        return inner;
      })().catch((error: unknown) => {
        reference = undefined; // the next request tries again
        throw error;
      }));
    docsApp.addHook('onClose', async () => {
      if (reference) await (await reference.catch(() => undefined))?.close();
    });

    const forward = async (request: FastifyRequest, reply: FastifyReply) => {
      const inner = await load();
      const answer = await inner.inject({ method: request.method as 'GET' | 'HEAD', url: request.url });
      if (answer.statusCode === 404) return reply.callNotFound();
      reply.code(answer.statusCode);
      for (const name of FORWARDED_HEADERS) {
        const value = answer.headers[name];
        if (value !== undefined) reply.header(name, value);
      }
      return reply.send(answer.rawPayload);
    };
    docsApp.get('/docs', forward);
    docsApp.get('/docs/*', forward);
  });
}

/** What the reference's answers say that matters to a browser; the rest our server sets. */
const FORWARDED_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'location'];
