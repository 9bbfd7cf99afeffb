// How responses are written: fast-json-stringify, as Fastify does by default, over the schemas the
// contract declares for them, with one change. The contract says "this or null" the OpenAPI 3.1
// way, `oneOf: [<schema>, {type: 'null'}]`, and fast-json-stringify writes a `oneOf` by trying
// each option with Ajv, value by value: a page of twenty conversations ran about a hundred
// validations (each participant's handle and display name against their patterns, each last
// message whole), which took more than half the page's serialization. The serializer reads the
// same schema as `<schema>` with `nullable: true` instead, which writes `null` for null and the
// value as `<schema>` otherwise: the same bytes for every value the contract allows.
//
// Responses are not validated here either way (a test checks every response the suite sees
// against the contract); a value of the wrong type is written as the schema's type says.
import fastJsonStringify from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify';

type Schema = Record<string, unknown>;

const rewritten = new WeakMap<object, unknown>();

/**
 * `schema` with every `oneOf` (or `anyOf`) of exactly one schema and `{type: 'null'}` replaced by
 * that schema, marked `nullable: true` (its siblings kept). Shared and cyclic subschemas stay
 * shared and cyclic; the input is not changed.
 */
export function nullableInsteadOfOneOf(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  const done = rewritten.get(schema);
  if (done !== undefined) return done;
  if (Array.isArray(schema)) {
    const out: unknown[] = [];
    rewritten.set(schema, out);
    for (const item of schema) out.push(nullableInsteadOfOneOf(item));
    return out;
  }
  const out: Schema = {};
  rewritten.set(schema, out);
  for (const [key, value] of Object.entries(schema)) out[key] = nullableInsteadOfOneOf(value);
  for (const keyword of ['oneOf', 'anyOf'] as const) {
    const options = out[keyword];
    if (!Array.isArray(options) || options.length !== 2) continue;
    const nullAt = options.findIndex(isNullType);
    const other = options[1 - nullAt] as unknown;
    if (nullAt < 0 || isNullType(other) || other === null || typeof other !== 'object' || Array.isArray(other)) continue;
    delete out[keyword];
    Object.assign(out, other, { nullable: true });
  }
  return out;
}

function isNullType(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && Object.keys(schema).length === 1 && (schema as Schema).type === 'null';
}

/** Fastify's serializer compiler, over the schemas as `nullableInsteadOfOneOf` reads them. */
export const serializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) => fastJsonStringify(nullableInsteadOfOneOf(schema) as Schema);
