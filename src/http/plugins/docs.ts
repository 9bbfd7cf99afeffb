// The contracts and their interactive reference, served by the server itself: /openapi.yaml as
// written and /openapi.json for version 1, /v2/openapi.yaml and /v2/openapi.json for version 2,
// and Scalar at /docs (its assets come from the package, not a CDN), with a switch between the
// versions. The page is Agora's: its own title and description, none of the vendor's buttons
// for its hosted services (SDK generation, deploying, its AI agent, its MCP server), and
// examples that work against this server (see ../docs-document.ts).
//
// Scalar's package holds its whole browser bundle as one string (about 5 MB of source, some
// 20 MB of heap once loaded). A server that nobody asks for /docs should not carry it, so it
// is loaded on the first request under /docs, into an inner Fastify instance that the /docs
// routes forward to.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { docsDocument } from '../docs-document.ts';
import type { Spec } from '../spec.ts';

export const DOCS_TITLE = 'Agora API reference';
const DOCS_DESCRIPTION = "The contract of Agora's REST/JSON API, versions 1 and 2: every operation, its parameters, responses, problem types and a TypeScript example.";

/** Scalar's configuration: our title, both versions, and nothing that calls the vendor's services. */
export const SCALAR_CONFIGURATION = {
  pageTitle: DOCS_TITLE,
  metaData: { title: DOCS_TITLE, description: DOCS_DESCRIPTION, ogTitle: DOCS_TITLE, ogDescription: DOCS_DESCRIPTION },
  sources: [
    { title: 'Agora API v1', slug: 'v1', url: '/docs/v1/openapi.json', default: true },
    { title: 'Agora API v2', slug: 'v2', url: '/docs/v2/openapi.json' },
  ],
  // The "Open API Client" button, the developer toolbar ("Generate SDK", "Deploy"), the agent
  // ("Ask AI") and the MCP button lead to the vendor's hosted services.
  hideClientButton: true,
  showDeveloperTools: 'never',
  agent: { disabled: true },
  mcp: { disabled: true },
  telemetry: false,
  withDefaultFonts: false,
  defaultHttpClient: { targetKey: 'shell', clientKey: 'curl' },
  // Beside each operation's TypeScript example (x-codeSamples), curl and a few languages.
  hiddenClients: { c: true, clojure: true, csharp: true, dart: true, fsharp: true, go: true, http: true, java: true, kotlin: true, objc: true, ocaml: true, php: true, powershell: true, r: true, ruby: true, rust: true, swift: true },
  // The footer's "Powered by Scalar" is a link to the vendor's site. Tables in descriptions
  // (the problem types) size their columns to their content instead of equal slices, and
  // scroll sideways rather than break names and status codes in the middle.
  customCss: [
    '.darklight-reference a[href*="scalar.com"] { display: none; }',
    '.markdown table { table-layout: auto; display: block; overflow-x: auto; }',
    '.markdown th:first-child, .markdown td:first-child, .markdown td code { white-space: nowrap; }',
  ].join('\n'),
};

const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

export async function docs(app: FastifyInstance, options: { spec: Spec; v2: Spec }) {
  // What the page reads: each version's contract with examples and grouping for readers, kept
  // as its JSON text only: the document it is made from is not kept (0.7 MB on the heap for v1).
  const pages = [
    ['v1', JSON.stringify(docsDocument(options.spec.document, { prefix: '/v1', client: 'createAgoraClient' }))],
    ['v2', JSON.stringify(docsDocument(options.v2.document, { prefix: '/v2', client: 'createAgoraV2Client' }))],
  ] as const;
  for (const { prefix, spec } of [{ prefix: '', spec: options.spec }, { prefix: '/v2', spec: options.v2 }]) {
    const { text } = spec;
    const json = JSON.stringify(spec.document);
    app.get(`${prefix}/openapi.yaml`, async (_request, reply) =>
      reply.type('application/yaml; charset=utf-8').send(text),
    );
    app.get(`${prefix}/openapi.json`, async (_request, reply) =>
      reply.type('application/json; charset=utf-8').send(json),
    );
  }

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
          configuration: SCALAR_CONFIGURATION as never,
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
    for (const [version, json] of pages) {
      docsApp.get(`/docs/${version}/openapi.json`, async (_request, reply) =>
        reply.type('application/json; charset=utf-8').send(json),
      );
    }
    docsApp.get('/docs', forward);
    docsApp.get('/docs/*', forward);
  });
}

/** What the reference's answers say that matters to a browser; the rest our server sets. */
const FORWARDED_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'location'];
