// The contract as the docs page shows it: a copy of a version's document with what a reader
// needs beside the contract itself. Each operation gets two TypeScript examples
// (`x-codeSamples`): a call through agora-sdk (its v1 or v2 client) and the same call with fetch. The OPTIONS operations move to a tag of their own, grouped apart (`x-tagGroups`)
// so that they do not crowd the operations people look for. The served /openapi.json stays the
// contract as written; only /docs reads these copies.
import { operationsOf, resolveRef } from './conventions.ts';
import type { OpenApiDocument } from './spec.ts';

type Json = Record<string, any>;

export const OPTIONS_TAG = 'allowed methods';
const SAMPLE_ORIGIN = 'http://127.0.0.1:3000';

/** A value for a schema, from its examples, default or type: what a sample request sends. */
export function exampleOf(document: OpenApiDocument, node: unknown, depth = 0): unknown {
  const schema = resolveRef(document, node);
  if (depth > 5) return null;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return exampleOf(document, variants.find((v: Json) => resolveRef(document, v).type !== 'null') ?? variants[0], depth + 1);
  switch (schema.type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Json;
      const required = new Set<string>(schema.required ?? Object.keys(properties));
      return Object.fromEntries(Object.entries(properties).filter(([k]) => required.has(k)).map(([k, v]) => [k, exampleOf(document, v, depth + 1)]));
    }
    case 'array':
      return [exampleOf(document, schema.items, depth + 1)];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'uuid') return '0195d6a3-7c4e-7b61-9b1e-4f0f2f9d1c2a';
      if (schema.format === 'email') return 'ada@example.com';
      if (schema.format === 'password') return 'correct horse battery staple';
      if (schema.format === 'date-time') return '2026-01-01T00:00:00Z';
      return 'text';
    default:
      return null;
  }
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  example?: unknown;
}

function parametersOf(document: OpenApiDocument, path: string, operation: Json): Parameter[] {
  const item = document.paths[path] as Json;
  return [...(item.parameters ?? []), ...(operation.parameters ?? [])].map((p) => resolveRef(document, p) as Parameter);
}

/** A TypeScript literal for a JSON value. */
const ts = (value: unknown) => JSON.stringify(value);

function requestBodyExample(document: OpenApiDocument, operation: Json): unknown {
  const content = resolveRef(document, operation.requestBody).content as Json | undefined;
  if (!content) return undefined;
  const media = (content['application/json'] ?? Object.values(content)[0]) as Json;
  return exampleOf(document, media.schema);
}

function objectLiteral(entries: [string, string][]): string {
  return `{ ${entries.map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${v}`).join(', ')} }`;
}

function publicOperation(document: OpenApiDocument, operation: Json): boolean {
  const security = (operation.security ?? document.security ?? []) as Json[];
  return security.length === 0;
}

/** The step that gets the ETag an `If-Match` needs: a GET of the same resource. */
function etagStep(document: OpenApiDocument, path: string, pathArgs: [string, string][], viaSdk: boolean): string[] {
  const get = (document.paths[path] as Json).get as Json | undefined;
  if (!get) return [];
  if (viaSdk) {
    const params = pathArgs.length ? `, { params: { path: ${objectLiteral(pathArgs)} } }` : '';
    return [
      `// If-Match takes the version you last read: GET it (or keep the ETag of your last response).`,
      `const current = await unwrap(agora.GET('${path}'${params}));`,
    ];
  }
  return [
    `// If-Match takes the resource's current ETag, from a GET (or your last response):`,
    `const current = await fetch(\`\${base}${path.replace(/\{([^}]+)\}/g, '${$1}')}\`, { headers: { authorization: \`Bearer \${token}\` } });`,
    `const etag = current.headers.get('etag') ?? '"0"';`,
  ];
}

/** agora-sdk (openapi-fetch underneath): `agora.METHOD(path, { params, body })`. */
export function sdkSample(document: OpenApiDocument, prefix: string, method: string, path: string, operation: Json, client: SdkClient = 'createAgoraClient'): string {
  const parameters = parametersOf(document, path, operation);
  const pathParams = parameters.filter((p) => p.in === 'path');
  const pathArgs: [string, string][] = pathParams.map((p) => [p.name, ts(exampleOf(document, p.schema))]);
  const headerArgs: [string, string][] = parameters
    .filter((p) => p.in === 'header' && p.required)
    .map((p) => [p.name, p.name === 'If-Match' ? 'ifMatch(current.version)' : ts(p.example ?? exampleOf(document, p.schema))]);
  const params: [string, string][] = [];
  if (pathArgs.length) params.push(['path', objectLiteral(pathArgs)]);
  if (headerArgs.length) params.push(['header', objectLiteral(headerArgs)]);
  const options: [string, string][] = [];
  if (params.length) options.push(['params', objectLiteral(params)]);
  const body = requestBodyExample(document, operation);
  if (body !== undefined) options.push(['body', ts(body)]);
  const token = publicOperation(document, operation) ? '' : ', token: process.env.AGORA_TOKEN';
  const needsEtag = headerArgs.some(([name]) => name === 'If-Match');
  const lines = [
    `import { ${client}${needsEtag ? ', ifMatch, unwrap' : ''} } from 'agora-sdk';`,
    ``,
    `const agora = ${client}({ baseUrl: '${SAMPLE_ORIGIN}${prefix}'${token} });`,
    ...(needsEtag ? etagStep(document, path, pathArgs, true) : []),
    `const { data, error, response } = await agora.${method.toUpperCase()}('${path}'${options.length ? `, ${objectLiteral(options)}` : ''});`,
    method === 'options' ? `console.log(response.headers.get('allow'));` : `console.log(response.status, data ?? error);`,
  ];
  return lines.join('\n');
}

/** fetch, for a reader who does not use the SDK. */
export function fetchSample(document: OpenApiDocument, prefix: string, method: string, path: string, operation: Json): string {
  const parameters = parametersOf(document, path, operation);
  const pathParams = parameters.filter((p) => p.in === 'path');
  const pathArgs: [string, string][] = pathParams.map((p) => [p.name, ts(exampleOf(document, p.schema))]);
  const ifMatch = parameters.some((p) => p.in === 'header' && p.required && p.name === 'If-Match');
  const body = requestBodyExample(document, operation);
  const headers: [string, string][] = [];
  if (!publicOperation(document, operation)) headers.push(['authorization', '`Bearer ${token}`']);
  if (ifMatch) headers.push(['if-match', 'etag']);
  if (operation['x-idempotent'] === true) headers.push(['idempotency-key', 'crypto.randomUUID()']);
  if (body !== undefined) headers.push(['content-type', `'application/json'`]);
  const init: [string, string][] = [['method', `'${method.toUpperCase()}'`]];
  if (headers.length) init.push(['headers', objectLiteral(headers)]);
  if (body !== undefined) init.push(['body', `JSON.stringify(${ts(body)})`]);
  const lines = [
    `const base = '${SAMPLE_ORIGIN}${prefix}';`,
    ...(publicOperation(document, operation) ? [] : [`const token = process.env.AGORA_TOKEN; // from POST /v1/sessions`]),
    ...pathArgs.map(([name, value]) => `const ${name} = ${value};`),
    ...(ifMatch ? etagStep(document, path, pathArgs, false) : []),
    `const response = await fetch(\`\${base}${path.replace(/\{([^}]+)\}/g, '${$1}')}\`, ${objectLiteral(init)});`,
    method === 'options'
      ? `console.log(response.headers.get('allow'));`
      : `console.log(response.status, response.status === 204 ? '' : await response.json());`,
  ];
  return lines.join('\n');
}

/** A copy of `document` for the docs page (see the top of this file). */
/** The SDK's factory of the client for a version. */
export type SdkClient = 'createAgoraClient' | 'createAgoraV2Client';

export function docsDocument(source: OpenApiDocument, options: { prefix: string; client: SdkClient }): OpenApiDocument {
  const document = structuredClone(source) as OpenApiDocument & Json;
  const tags = ((document.tags ?? []) as Json[]).map((t) => t.name as string);
  for (const { method, path, operation } of operationsOf(document)) {
    operation['x-codeSamples'] = [
      { lang: 'TypeScript', label: 'agora-sdk', source: sdkSample(document, options.prefix, method, path, operation, options.client) },
      { lang: 'TypeScript', label: 'fetch', source: fetchSample(document, options.prefix, method, path, operation) },
    ];
    if (method === 'options') operation.tags = [OPTIONS_TAG];
  }
  document.tags = [
    ...((document.tags ?? []) as Json[]),
    { name: OPTIONS_TAG, description: '`OPTIONS` on each resource: the methods the current caller may use there, in `Allow`.' },
  ];
  document['x-tagGroups'] = [
    { name: 'API', tags },
    { name: 'Discovery', tags: [OPTIONS_TAG] },
  ];
  return document;
}
