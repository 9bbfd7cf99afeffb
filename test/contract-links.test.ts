// The contract's OpenAPI links (a response's values feeding the next request) must resolve:
// each names an operation that exists, sets only parameters that operation declares, supplies
// all of its required path parameters, and takes its values from places that exist (a property
// of the response body, a header of the response, a path parameter of the request). A unit test
// over openapi.yaml: no server, no database.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const spec: Json = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'));

function resolve(node: Json): Json {
  let current = node;
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    if (hops > 10) throw new Error(`$ref loop at ${node.$ref}`);
    current = (current.$ref as string)
      .slice(2)
      .split('/')
      .reduce((o: Json | undefined, key) => o?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec) as Json;
    if (current === undefined) throw new Error(`unresolved $ref ${node.$ref}`);
  }
  return current;
}

interface Operation {
  where: string;
  operation: Json;
  parameters: Json[];
}

const operations = new Map<string, Operation>();
for (const [path, item] of Object.entries(spec.paths as Json)) {
  for (const method of METHODS) {
    const operation = item[method];
    if (!operation) continue;
    const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve);
    operations.set(operation.operationId, { where: `${method.toUpperCase()} ${path}`, operation, parameters });
  }
}

/** Whether a JSON pointer into a response body names a property the schema declares. */
function pointerExists(schema: Json, pointer: string): boolean {
  let node = resolve(schema);
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const property = node.properties?.[key];
    if (!property) return false;
    node = resolve(property);
  }
  return true;
}

/** The problems with one runtime expression used as a link parameter's value. */
function expressionProblem(expression: string, source: Operation, response: Json): string | undefined {
  let m = /^\$response\.body#(\/.*)$/.exec(expression);
  if (m) {
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return `${expression}: the response has no JSON body`;
    return pointerExists(schema, m[1]!) ? undefined : `${expression}: the response body has no such property`;
  }
  m = /^\$response\.header\.(.+)$/.exec(expression);
  if (m) {
    const declared = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
    return declared.includes(m[1]!.toLowerCase()) ? undefined : `${expression}: the response declares no such header`;
  }
  m = /^\$request\.path\.(.+)$/.exec(expression);
  if (m) {
    const found = source.parameters.some((p) => p.in === 'path' && p.name === m![1]);
    return found ? undefined : `${expression}: ${source.where} has no such path parameter`;
  }
  return `${expression}: not a runtime expression this test knows`;
}

const links: { name: string; source: Operation; status: string; response: Json; link: Json }[] = [];
for (const source of operations.values()) {
  for (const [status, raw] of Object.entries(source.operation.responses as Json)) {
    const response = resolve(raw as Json);
    for (const [name, link] of Object.entries((response.links ?? {}) as Json)) {
      links.push({ name, source, status, response, link: resolve(link as Json) });
    }
  }
}

t.test('the contract has links where a response feeds the next request', async (t) => {
  const from = (operationId: string, status: string) =>
    links
      .filter((l) => l.source.operation.operationId === operationId && l.status === status)
      .map((l) => l.link.operationId)
      .sort();
  t.same(from('createPost', '201'), ['deletePost', 'getPost', 'updatePost']);
  t.same(from('createChannelPost', '201'), ['deletePost', 'getPost', 'updatePost']);
  t.same(from('getPost', '200'), ['deletePost', 'updatePost']);
  const update = links.find((l) => l.source.operation.operationId === 'createPost' && l.link.operationId === 'updatePost');
  t.same(update?.link.parameters, { postId: '$response.body#/id', 'If-Match': '$response.header.ETag' });
  for (const operationId of ['createAccount', 'createSession', 'createFriendRequest', 'createChannel', 'addChannelMember', 'addFriend']) {
    t.ok(links.some((l) => l.source.operation.operationId === operationId), `${operationId} has links`);
  }
});

t.test('every link resolves', async (t) => {
  t.ok(links.length > 0);
  for (const { name, source, status, response, link } of links) {
    const at = `${source.where} ${status} links.${name}`;
    const target = operations.get(link.operationId);
    if (!target) {
      t.fail(`${at}: no operation ${link.operationId}`);
      continue;
    }
    const problems: string[] = [];
    const given = Object.keys(link.parameters ?? {});
    for (const qualified of given) {
      const [, location, name] = /^(?:(path|query|header|cookie)\.)?(.+)$/.exec(qualified)!;
      const declared = target.parameters.some(
        (p) => (location === undefined || p.in === location) && (p.in === 'header' ? p.name.toLowerCase() === name!.toLowerCase() : p.name === name),
      );
      if (!declared) problems.push(`${target.where} has no parameter ${qualified}`);
      const problem = expressionProblem(link.parameters[qualified], source, response);
      if (problem) problems.push(problem);
    }
    for (const p of target.parameters) {
      if (p.in === 'path' && !given.includes(p.name) && !given.includes(`path.${p.name}`)) {
        problems.push(`does not supply the path parameter ${p.name} of ${target.where}`);
      }
    }
    t.same(problems, [], `${at} → ${link.operationId}`);
  }
});

t.test('every link defined under components is used', async (t) => {
  const used = new Set<string>();
  for (const source of operations.values()) {
    for (const raw of Object.values(source.operation.responses as Json)) {
      for (const link of Object.values((resolve(raw as Json).links ?? {}) as Json)) {
        if (typeof link.$ref === 'string') used.add(link.$ref.split('/').pop()!);
      }
    }
  }
  t.same(Object.keys(spec.components.links ?? {}).filter((name) => !used.has(name)), []);
});
