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
import { textOf } from './schema-text.ts';

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

type Serializer = (data: unknown) => string;

/**
 * The serializers compiled so far, by their schema's JSON text. Fastify asks for one per route,
 * status code and media type: 812 at start for 26 distinct schemas (the problem schema of every
 * error status of every operation, each its own copy, as fastify-openapi-glue clones each
 * schema it hands over). Each compiled function kept its own generated source, code and
 * closures, in the old generation that every full collection marks; a serializer depends on
 * its schema alone, so the same text gets the same function (bench/README.md).
 */
const compiled = new Map<string, Serializer>();

/** The serializers already given, by schema object: routes share their response schemas (`shareResponseSchemas`), so most are asked for again by the same object, whose text need not be written again. */
const given = new WeakMap<object, Serializer>();

/** How many serializers were compiled (with fast-json-stringify) in this process. */
let compilations = 0;

/** The serializer of `schema`, as `nullableInsteadOfOneOf` reads it: one per distinct schema. */
export function serializerFor(schema: unknown): Serializer {
  const known = schema !== null && typeof schema === 'object' ? given.get(schema) : undefined;
  if (known !== undefined) return known;
  const text = textOf(schema);
  let serializer = text === undefined ? undefined : compiled.get(text);
  if (serializer === undefined) {
    serializer = fastJsonStringify(nullableInsteadOfOneOf(schema) as Schema);
    compilations++;
    if (text !== undefined) compiled.set(text, serializer);
  }
  if (schema !== null && typeof schema === 'object') given.set(schema, serializer);
  return serializer;
}

/** The response schemas routes hold, by their JSON text (see `shareResponseSchemas`). */
const shared = new Map<string, unknown>();

/**
 * Makes a route's response schemas the same objects as every other route's with the same text,
 * before Fastify compiles them: fastify-openapi-glue hands each route a clone of each, and a
 * route keeps its schemas for as long as the server runs (the problem schema of every error
 * status of every operation, about 35,000 objects). Fastify only reads response schemas (they
 * are serialized, not validated), so sharing them changes nothing a route does.
 */
export function shareResponseSchemas(route: { schema?: unknown }): void {
  const responses = (route.schema as { response?: Record<string, { content?: Record<string, { schema?: unknown }> }> } | undefined)?.response;
  for (const response of Object.values(responses ?? {})) {
    for (const media of Object.values(response?.content ?? {})) {
      if (media?.schema === undefined) continue;
      const text = textOf(media.schema);
      if (text === undefined) continue;
      const known = shared.get(text);
      if (known === undefined) shared.set(text, media.schema);
      else media.schema = known;
    }
  }
}

/** How many serializers Fastify has asked for (one per route, status code and media type). */
let asked = 0;

/** Fastify's serializer compiler (see `serializerFor`). */
export const serializerCompiler: FastifySerializerCompiler<unknown> = ({ schema }) => {
  asked++;
  return serializerFor(schema);
};

/**
 * The serializers Fastify asked for in this process and how many of them were compiled (one per
 * distinct schema): what test/schemas-shared.test.ts checks of a whole server.
 */
export function serializerCounts(): { asked: number; compiled: number } {
  return { asked, compiled: compilations };
}
