// The contract and its interactive reference, served by the server itself: /openapi.yaml as
// written, /openapi.json, and Scalar at /docs (its assets come from the package, not a CDN).
import scalar from '@scalar/fastify-api-reference';
import type { FastifyInstance } from 'fastify';
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
    await docsApp.register(scalar, {
      routePrefix: '/docs',
      configuration: { url: '/openapi.json', withDefaultFonts: false, telemetry: false } as never,
    });
  });
}
