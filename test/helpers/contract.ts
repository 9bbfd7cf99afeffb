// Checks responses against the contract of their version (openapi.yaml for /v1, openapi-v2.yaml
// for /v2), independently of the server's own code: the status
// must be declared for the operation (a `default` covers only 5xx), the body must match the
// declared schema for its content type, and declared headers must match their schemas.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
type Json = Record<string, any>;

export const spec: Json = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
export const specV2: Json = parse(readFileSync(new URL('../../openapi-v2.yaml', import.meta.url), 'utf8'));

function deref(node: unknown, seen: string[] = [], document: Json = spec): any {
  if (Array.isArray(node)) return node.map((n) => deref(n, seen));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj.$ref === 'string') {
    const ref = obj.$ref as string;
    if (seen.includes(ref)) throw new Error(`recursive $ref ${ref}`);
    const target = ref
      .slice(2)
      .split('/')
      .reduce((o: Json, key) => o[key.replace(/~1/g, '/').replace(/~0/g, '~')], document);
    const { $ref: _ref, ...siblings } = obj;
    return { ...deref(target, [...seen, ref], document), ...deref(siblings, seen, document) };
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, deref(v, seen, document)]));
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('password', true);
const compiled = new Map<string, ValidateFunction>();

function validator(key: string, schema: Json): ValidateFunction {
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(key, v);
  }
  return v;
}

const operations = [
  { prefix: '/v1', document: spec },
  { prefix: '/v2', document: specV2 },
].flatMap(({ prefix, document }) =>
  Object.entries(document.paths as Json).map(([template, item]) => ({
    template,
    prefix,
    document,
    pattern: new RegExp(`^${prefix}${template.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
    item: item as Json,
  })),
);

export interface ResponseSeen {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

/** Returns the contract violations of one response (empty when it conforms). */
export function violations(seen: ResponseSeen): string[] {
  const path = new URL(seen.url).pathname;
  const method = seen.method.toLowerCase() === 'head' ? 'get' : seen.method.toLowerCase();
  const op = operations.find((o) => o.pattern.test(path));
  const where = `${seen.method} ${path} → ${seen.status}`;
  if (!op) return seen.status === 404 ? [] : [`${where}: no such path in the spec`];
  const operation = op.item[method] as Json | undefined;
  if (!operation) return seen.status === 405 ? [] : [`${where}: the spec has no ${method} here`];
  const declared = operation.responses[String(seen.status)] ?? (seen.status >= 500 ? operation.responses.default : undefined);
  if (!declared) return [`${where}: status ${seen.status} is not declared for ${operation.operationId}`];
  const response = deref(declared, [], op.document) as Json;
  const problems: string[] = [];
  for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
    const value = seen.headers.get(name);
    if (value === null) continue;
    const schema = (header as Json).schema as Json;
    const typed = schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
    const v = validator(`${op.prefix}:${operation.operationId}:${seen.status}:header:${name}`, schema);
    if (!v(typed)) problems.push(`${where}: header ${name}: ${value} ${ajv.errorsText(v.errors)}`);
  }
  const content = response.content as Json | undefined;
  if (!content) {
    if (seen.body.length > 0) problems.push(`${where}: a body was sent but none is declared`);
    return problems;
  }
  const type = (seen.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = content[type] as Json | undefined;
  if (!media) return [...problems, `${where}: content type "${type}" is not declared (${Object.keys(content).join(', ')})`];
  if (seen.method.toUpperCase() === 'HEAD') return problems;
  // A stream's body never ends: its events are checked one by one (eventViolations).
  if (type === 'text/event-stream') return problems;
  let body: unknown;
  try {
    body = JSON.parse(seen.body);
  } catch {
    return [...problems, `${where}: the body is not JSON`];
  }
  const v = validator(`${op.prefix}:${operation.operationId}:${seen.status}:${type}`, media.schema as Json);
  if (!v(body)) problems.push(`${where}: body ${ajv.errorsText(v.errors, { dataVar: 'body' })}: ${seen.body.slice(0, 500)}`);
  return problems;
}

/** The ways one event of GET /v1/stream breaks the spec's StreamEvent schema (empty when it conforms). */
export function eventViolations(event: { id: string; event: string; data: unknown }): string[] {
  // Types the contract does not declare (a test's own source) are for clients to ignore.
  if (!(event.event in spec.components.schemas.StreamEvent.discriminator.mapping)) return [];
  const v = validator('schema:StreamEvent', deref(spec.components.schemas.StreamEvent) as Json);
  return v(event) ? [] : [`${ajv.errorsText(v.errors, { dataVar: 'event' })}: ${JSON.stringify(event).slice(0, 500)}`];
}

/** Throws when a response breaks the contract. */
export function assertConforms(seen: ResponseSeen): void {
  const found = violations(seen);
  if (found.length > 0) throw new Error(`response breaks openapi.yaml:\n  ${found.join('\n  ')}`);
}

/** The ways `body` breaks the spec's Problem schema (empty when it is a valid problem document). */
export function problemViolations(body: unknown): string[] {
  const v = validator('schema:Problem', deref(spec.components.schemas.Problem) as Json);
  return v(body) ? [] : [ajv.errorsText(v.errors, { dataVar: 'problem' })];
}

/**
 * The characters a schema's description says are trimmed from a value's ends, read from its
 * list: names (`tab`), `U+00A0`, and ranges (`U+2000 to U+200A`).
 */
export function trimmedCharacters(schemaName: string): string[] {
  const description = String(spec.components.schemas[schemaName].description ?? '').replace(/\s+/g, ' ');
  const list = /white space is removed before it is stored and returned: ([^.]*)\./.exec(description)?.[1];
  if (!list) throw new Error(`the description of ${schemaName} lists no trimmed characters`);
  const named: Record<string, number> = { tab: 0x09, 'line feed': 0x0a, 'carriage return': 0x0d, space: 0x20 };
  const found: number[] = [];
  for (const item of list.split(/, | and /)) {
    const name = item.replace(/\(.*\)/, '').trim();
    const range = /^U\+([0-9A-F]{4,6}) to U\+([0-9A-F]{4,6})$/.exec(name);
    const single = /^U\+([0-9A-F]{4,6})$/.exec(name);
    if (range) for (let c = parseInt(range[1]!, 16); c <= parseInt(range[2]!, 16); c++) found.push(c);
    else if (single) found.push(parseInt(single[1]!, 16));
    else if (named[name] !== undefined) found.push(named[name]);
    else throw new Error(`${schemaName}: cannot read "${item}" as a character`);
  }
  return found.map((c) => String.fromCodePoint(c));
}
