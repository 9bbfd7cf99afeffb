// Start-up checks of the contract's conventions that the mechanisms of this layer rely on. A
// spec that breaks one stops the server (and every test) with a list of what to fix, so that a
// new operation cannot silently miss idempotency or conditional GETs. Spectral checks the
// idempotency rules at lint time too (.spectral.yaml).
import { HTTP_METHODS, type OpenApiDocument } from './spec.ts';

type Json = Record<string, any>;

export interface OperationInfo {
  method: string;
  path: string;
  operationId: string;
  operation: Json;
}

/** Follows a local `$ref` (`#/components/...`) to what it names. */
export function resolveRef(document: OpenApiDocument, node: unknown): Json {
  let current = node as Json;
  for (let depth = 0; current && typeof current.$ref === 'string' && depth < 10; depth++) {
    const ref: string = current.$ref;
    current = ref
      .slice(2)
      .split('/')
      .reduce((o: Json | undefined, key) => o?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], document as Json) as Json;
  }
  return current ?? {};
}

export function operationsOf(document: OpenApiDocument): OperationInfo[] {
  const found: OperationInfo[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = (item as Json)[method] as Json | undefined;
      if (operation?.operationId) found.push({ method, path, operationId: operation.operationId, operation });
    }
  }
  return found;
}

/** The header parameters an operation declares, named as the spec spells them (`If-Match`). */
export function headerParameters(document: OpenApiDocument, path: string, operation: Json): string[] {
  const pathItem = document.paths[path] as Json;
  const all = [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])].map((p) => resolveRef(document, p));
  return all.filter((p) => p.in === 'header').map((p) => String(p.name));
}

function parameterNames(document: OpenApiDocument, path: string, operation: Json): Set<string> {
  return new Set(headerParameters(document, path, operation).map((name) => name.toLowerCase()));
}

/** Every way the document breaks the conventions below; empty when it keeps them all. */
export function conventionViolations(document: OpenApiDocument): string[] {
  const problems: string[] = [];
  for (const { method, path, operationId, operation } of operationsOf(document)) {
    const where = `${method.toUpperCase()} ${path} (${operationId})`;
    const responses = (operation.responses ?? {}) as Json;
    const idempotent = operation['x-idempotent'];

    // Every POST that creates (answers 201) decides about Idempotency-Key, explicitly.
    if (method === 'post' && responses['201'] && typeof idempotent !== 'boolean') {
      problems.push(`${where} creates data: mark it \`x-idempotent: true\`, or \`x-idempotent: false\` with the reason in its description`);
    }
    if (idempotent !== undefined && typeof idempotent !== 'boolean') {
      problems.push(`${where}: x-idempotent must be true or false`);
    }
    if (idempotent === true) {
      if (method !== 'post') problems.push(`${where}: only POST operations can be x-idempotent`);
      if (!parameterNames(document, path, operation).has('idempotency-key')) {
        problems.push(`${where} is x-idempotent: declare the header parameter (#/components/parameters/IdempotencyKey)`);
      }
      if (!responses['409']) problems.push(`${where} is x-idempotent: declare the 409 for a key in flight (#/components/responses/ConflictOrKeyInFlight)`);
      if (!responses['422']) problems.push(`${where} is x-idempotent: declare the 422 for a reused key (#/components/responses/IdempotencyKeyReused)`);
    }

    // A GET of a versioned resource answers conditional requests.
    const ok = responses['200'] ? resolveRef(document, responses['200']) : undefined;
    const sendsETag = Object.keys((ok?.headers ?? {}) as Json).some((name) => name.toLowerCase() === 'etag');
    if (method === 'get' && sendsETag) {
      if (!parameterNames(document, path, operation).has('if-none-match')) {
        problems.push(`${where} sends an ETag: declare the If-None-Match header parameter (#/components/parameters/IfNoneMatch)`);
      }
      if (!responses['304']) problems.push(`${where} sends an ETag: declare the 304 response (#/components/responses/NotModified)`);
    }
  }
  return problems;
}

export function assertConventions(document: OpenApiDocument): void {
  const problems = conventionViolations(document);
  if (problems.length > 0) throw new Error(`openapi.yaml breaks the API conventions:\n  - ${problems.join('\n  - ')}`);
}

/** The longest path parameter the router accepts; a longer segment is a 400, not a 404 or 405. */
export const MAX_PATH_PARAMETER_LENGTH = 200;

export interface PathMethods {
  /** The methods the contract declares for the path (with HEAD wherever GET is), or undefined for a path it does not have. */
  methods: string[];
  /** True when the path only matches with a parameter longer than MAX_PATH_PARAMETER_LENGTH. */
  overlong: boolean;
}

/** An API version's contract and the prefix it is served under. */
export interface ServedApi {
  document: OpenApiDocument;
  prefix: string;
}

/** Matches a request path (without its query) against the contracts' paths, each under its prefix. */
export function pathMethods(apis: ServedApi[]): (path: string) => PathMethods | undefined {
  const routes = apis.flatMap(({ document, prefix }) => Object.entries(document.paths).map(([path, item]) => {
    const declared = HTTP_METHODS.filter((m) => m in item).map((m) => m.toUpperCase());
    const pattern = (segment: string) => new RegExp(`^${prefix}${path.replace(/\{[^}]+\}/g, segment)}/?$`);
    return {
      bounded: pattern(`[^/]{1,${MAX_PATH_PARAMETER_LENGTH}}`),
      unbounded: pattern('[^/]+'),
      methods: [...new Set([...declared, ...(declared.includes('GET') ? ['HEAD'] : [])])],
    };
  }));
  return (path) => {
    const exact = routes.find((r) => r.bounded.test(path));
    if (exact) return { methods: exact.methods, overlong: false };
    const long = routes.find((r) => r.unbounded.test(path));
    return long ? { methods: long.methods, overlong: true } : undefined;
  };
}

export interface CorsPolicy {
  /** Every method the contract declares anywhere (HEAD with GET), for a path it does not know. */
  methods: string[];
  /** Request headers a browser may send: the header parameters, those the security schemes use, Content-Type for bodies. */
  allowedHeaders: string[];
  /** Response headers a browser script may read: every header a response of the contract declares. */
  exposedHeaders: string[];
}

// Headers every browser lets scripts read or send anyway, and the CORS headers themselves.
const SAFELISTED = new Set(['cache-control', 'content-language', 'content-length', 'content-type', 'expires', 'last-modified', 'pragma']);

/** What CORS must allow for clients of this contract, derived from it. */
export function corsPolicy(documents: OpenApiDocument[]): CorsPolicy {
  const methods = new Set<string>();
  const allowed = new Set<string>();
  const exposed = new Set<string>();
  for (const document of documents) {
    const components = (document.components ?? {}) as Json;
    const schemes = Object.values((components.securitySchemes ?? {}) as Json).map((s) => resolveRef(document, s));
    for (const scheme of schemes) {
      // HTTP schemes, OAuth 2 and OpenID Connect send Authorization; an API key in a header, its own.
      if (scheme.type === 'http' || scheme.type === 'oauth2' || scheme.type === 'openIdConnect') allowed.add('authorization');
      if (scheme.type === 'apiKey' && scheme.in === 'header' && typeof scheme.name === 'string') allowed.add(scheme.name.toLowerCase());
    }
    for (const { method, path, operation } of operationsOf(document)) {
      methods.add(method.toUpperCase());
      if (method === 'get') methods.add('HEAD');
      if (operation.requestBody) allowed.add('content-type');
      for (const name of headerParameters(document, path, operation)) allowed.add(name.toLowerCase());
      for (const response of Object.values((operation.responses ?? {}) as Json)) {
        for (const name of Object.keys(resolveRef(document, response).headers ?? {})) {
          const lower = name.toLowerCase();
          if (!SAFELISTED.has(lower) && !lower.startsWith('access-control-')) exposed.add(lower);
        }
      }
    }
  }
  return { methods: [...methods], allowedHeaders: [...allowed], exposedHeaders: [...exposed] };
}

/** The order methods are listed in an `Allow` header. */
const ALLOW_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** The methods the contract declares on one of its paths, upper-case, with HEAD wherever GET is. */
export function declaredMethods(document: OpenApiDocument, path: string): string[] {
  const item = (document.paths[path] ?? {}) as Json;
  const declared = HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => m.toUpperCase());
  if (declared.includes('GET')) declared.push('HEAD');
  const rank = (m: string) => (ALLOW_ORDER.includes(m) ? ALLOW_ORDER.indexOf(m) : ALLOW_ORDER.length);
  return [...new Set(declared)].sort((a, b) => rank(a) - rank(b));
}

/**
 * The `Allow` of a path for one caller: the methods the contract declares on it that the
 * domain's permission function lets the caller use. OPTIONS itself is always allowed, and HEAD
 * goes with GET.
 */
export function allowedOf(declared: string[], permitted: ReadonlySet<string>): string[] {
  return declared.filter((m) => m === 'OPTIONS' || permitted.has(m) || (m === 'HEAD' && permitted.has('GET')));
}

/** Every path with an OPTIONS operation that no permission function covers. */
export function optionsViolations(document: OpenApiDocument, permissionPaths: ReadonlySet<string>): string[] {
  return operationsOf(document)
    .filter(({ method, path }) => method === 'options' && !permissionPaths.has(path))
    .map(({ path, operationId }) => `OPTIONS ${path} (${operationId}) has no permission function: add one for "${path}" to the handlers' allowedMethods`);
}

export function assertOptionsCovered(document: OpenApiDocument, permissionPaths: ReadonlySet<string>): void {
  const problems = optionsViolations(document, permissionPaths);
  if (problems.length > 0) throw new Error(`the OPTIONS operations of the contract lack their permission functions:\n  - ${problems.join('\n  - ')}`);
}
