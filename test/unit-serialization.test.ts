// The response serializer (src/http/serialization.ts): the contract's "this or null"
// (`oneOf: [<schema>, {type: 'null'}]`) read as `<schema>, nullable`, which fast-json-stringify
// writes without trying each option with Ajv. The bytes must not change: every GET response of
// both contracts (v1 and v2) is written by both readings, from values made from the schemas (their examples,
// and null wherever null is allowed, then wherever it is not).
import t from 'tap';
import fastJsonStringify from 'fast-json-stringify';
import { nullableInsteadOfOneOf, serializerCompiler, serializerFor, shareResponseSchemas } from '../src/http/serialization.ts';
import { loadSpec, specV2Path } from '../src/http/spec.ts';

type Schema = Record<string, any>;
const documents = [loadSpec().document, loadSpec(specV2Path).document];

/** The schema with every `$ref` into `document` replaced by its target, as the routes get it. */
function resolve(document: unknown, schema: unknown, seen = new Map<string, unknown>()): any {
  if (Array.isArray(schema)) return schema.map((s) => resolve(document, s, seen));
  if (schema === null || typeof schema !== 'object') return schema;
  const ref = (schema as Schema).$ref;
  if (typeof ref === 'string') {
    if (!seen.has(ref)) {
      const target = ref.slice(2).split('/').reduce((node: any, key) => node[key], document);
      seen.set(ref, undefined);
      seen.set(ref, resolve(document, target, seen));
    }
    return seen.get(ref);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(document, v, seen)]));
}

/** A value the schema allows: its example, or one made from its type; `nulls` picks null where allowed. */
function sample(schema: Schema, nulls: boolean): unknown {
  const options = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(options)) {
    const nullable = options.some((o: Schema) => o.type === 'null');
    if (nullable && nulls) return null;
    return sample(options.find((o: Schema) => o.type !== 'null'), nulls);
  }
  if (Array.isArray(schema.examples) && schema.examples.length > 0 && typeof schema.examples[0] !== 'object') return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((x: string) => x !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [name, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) out[name] = sample(property, nulls);
      return out;
    }
    case 'array':
      return [0, 1, 2].map(() => sample(schema.items ?? {}, nulls));
    case 'integer':
    case 'number':
      return schema.minimum ?? 3;
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'date-time') return new Date('2026-12-03T12:00:00.123Z');
      if (schema.format === 'uuid') return '01a23c54-e046-75bb-83ea-8511f43097d9';
      if (schema.format === 'uri-reference') return '/v2/feed?limit=20&cursor=AZXWo3xO';
      return 'text';
    default:
      return null;
  }
}

const listResponses = documents.flatMap((document) =>
  Object.entries(document.paths).flatMap(([path, item]) => {
    const get = (item as Schema).get;
    const schema = get?.responses?.['200']?.content?.['application/json']?.schema;
    return schema ? [{ path: `${(document as Schema).info.version} ${path}`, schema: resolve(document, schema) as Schema }] : [];
  }),
);

t.ok(listResponses.length >= 25, `the contracts' (v1 and v2) GET responses: ${listResponses.length}`);

t.test('every GET response is written to the same bytes, nulls or no nulls', async (t) => {
  let withOneOf = 0;
  for (const { path, schema } of listResponses) {
    const rewritten = JSON.stringify(nullableInsteadOfOneOf(schema));
    if (/"type":"null"/.test(JSON.stringify(schema)) && !/"type":"null"/.test(rewritten)) withOneOf++;
    const before = fastJsonStringify(schema);
    const after = serializerCompiler({ schema, method: 'GET', url: path, httpStatus: '200' });
    for (const nulls of [true, false]) {
      const value = sample(schema, nulls);
      t.equal(after(value), before(value), `${path}, ${nulls ? 'nulls where allowed' : 'no nulls'}`);
    }
  }
  t.ok(withOneOf >= 5, `responses whose "or null" changed: ${withOneOf}`);
});

t.test('"or null" becomes nullable; other oneOfs, shared and cyclic schemas stay as they were; the input is untouched', async (t) => {
  const id = { type: 'string', format: 'uuid' };
  const node: Schema = {
    type: 'object',
    properties: {
      a: { oneOf: [id, { type: 'null' }], description: 'an id or null' },
      b: { anyOf: [{ type: 'null' }, { type: 'object', properties: { x: { type: 'integer' } } }] },
      c: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
      d: { oneOf: [id, { type: 'null' }, { type: 'integer' }] },
      e: id,
    },
  };
  node.properties.self = node;
  const copy = structuredClone(node);
  const out = nullableInsteadOfOneOf(node) as Schema;
  t.same(out.properties.a, { type: 'string', format: 'uuid', description: 'an id or null', nullable: true });
  t.same(out.properties.b, { type: 'object', properties: { x: { type: 'integer' } }, nullable: true });
  t.same(out.properties.c, node.properties.c, 'a oneOf of two non-null schemas is kept');
  t.same(out.properties.d, node.properties.d, 'so is one of three');
  t.equal(out.properties.self, out, 'a cycle stays a cycle');
  t.equal(out.properties.e, out.properties.d.oneOf[0], 'a shared subschema stays shared');
  t.same(node, copy, 'the input is not changed');
  t.equal(nullableInsteadOfOneOf(node), out, 'the same schema is rewritten once');
  const { self: _, ...acyclic } = out.properties;
  const write = fastJsonStringify({ type: 'object', properties: acyclic }); // fast-json-stringify takes no cycles
  t.equal(write({ a: null, b: null, c: 'c', e: '01a23c54-e046-75bb-83ea-8511f43097d9' }), '{"a":null,"b":null,"c":"c","e":"01a23c54-e046-75bb-83ea-8511f43097d9"}');
  t.equal(write({ a: '01a23c54-e046-75bb-83ea-8511f43097d9', b: { x: 2 } }), '{"a":"01a23c54-e046-75bb-83ea-8511f43097d9","b":{"x":2}}');
});

t.test('one serializer per distinct schema: the same text gets the same function, another text its own', async (t) => {
  const problem = () => ({ type: 'object', properties: { title: { type: 'string' }, status: { type: 'integer' } }, required: ['title'] });
  const first = serializerCompiler({ schema: problem(), method: 'GET', url: '/a', httpStatus: '404' });
  const second = serializerCompiler({ schema: problem(), method: 'POST', url: '/b', httpStatus: '400' });
  t.equal(second, first, 'a clone of the same schema, on another route and status: the same serializer');
  t.equal(first({ title: 'Not Found', status: 404, extra: 'dropped' }), '{"title":"Not Found","status":404}');
  const other = serializerFor({ ...problem(), required: ['title', 'status'] });
  t.not(other, first, 'a schema that differs in any keyword gets its own');
  t.throws(() => other({ title: 'Not Found' }), 'and writes by its own schema (status is required there)');
  t.equal(first({ title: 'Not Found' }), '{"title":"Not Found"}', 'while the first still does not require it');

  // A schema with a $ref is JSON and is shared by text like any other.
  const recursive = () => ({ type: 'object', properties: { name: { type: 'string' }, again: { $ref: '#' } } });
  t.equal(serializerFor(recursive()), serializerFor(recursive()), 'a schema with a $ref: shared too');
  t.equal(serializerFor(recursive())({ name: 'x', again: { name: 'y' } }), '{"name":"x","again":{"name":"y"}}');
  // A schema JSON cannot write (an object cycle) is not looked up by text: it reaches
  // fast-json-stringify, whose own refusal is what the caller sees.
  const loop: Schema = { type: 'object', properties: { n: { type: 'integer' } } };
  loop.properties.self = loop;
  t.throws(() => serializerFor(loop), /circular object reference; use \$ref/);
});

t.test("routes' response schemas with the same text become one object; others stay their own", async (t) => {
  const problem = () => ({ type: 'object', properties: { title: { type: 'string' } } });
  const route = (status: string, schema: unknown, type = 'application/problem+json') => ({ schema: { response: { [status]: { content: { [type]: { schema } } } } } });
  const a = route('404', problem());
  const b = route('400', problem());
  const c = route('200', { type: 'object', properties: { id: { type: 'string' } } }, 'application/json');
  const none = { schema: { operationId: 'x' } };
  for (const r of [a, b, c, none, {}]) shareResponseSchemas(r);
  const schemaOf = (r: typeof a, status: string, type = 'application/problem+json') => (r.schema.response as any)[status].content[type].schema;
  t.equal(schemaOf(b, '400'), schemaOf(a, '404'), 'the second route holds the first one\'s object');
  t.same(schemaOf(b, '400'), problem(), 'with the same content');
  t.not(schemaOf(c, '200', 'application/json'), schemaOf(a, '404'), 'another schema is not replaced');
  t.same(none, { schema: { operationId: 'x' } }, 'a route without responses is left as it was');
});
