// Request validation with JSON Schema 2020-12 (OpenAPI 3.1's dialect). Unknown properties are
// rejected, never stripped; bodies are never coerced, parameters are (they arrive as strings),
// integers only from plain decimal digits.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldProblem } from '../handlers/index.ts';
import { textOf } from './schema-text.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function makeAjv(coerceTypes: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    coerceTypes: coerceTypes ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  addFormats(ajv);
  // OpenAPI's own formats: ranges are enforced by minimum/maximum, secrecy is documentation.
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('password', true);
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  return ajv;
}

const bodies = makeAjv(false);
const parameters = makeAjv(true);

/**
 * Node lower-cases incoming header names, and Fastify only lower-cases a header schema's
 * property names with its own compiler; with ours, that is our job.
 */
function lowerCaseHeaders(schema: Record<string, any>): Record<string, any> {
  if (!schema.properties) return schema;
  return {
    ...schema,
    properties: Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k.toLowerCase(), v])),
    ...(Array.isArray(schema.required) ? { required: schema.required.map((k: string) => k.toLowerCase()) } : {}),
  };
}

function isIntegerSchema(schema: unknown): boolean {
  const type = (schema as { type?: unknown } | undefined)?.type;
  return type === 'integer' || (Array.isArray(type) && type.includes('integer'));
}

/** The parameters (properties of a query, path or header schema) declared as integers. */
export function integerParameters(schema: Record<string, any>): string[] {
  return Object.entries((schema.properties ?? {}) as Record<string, unknown>)
    .filter(([, property]) => isIntegerSchema(property))
    .map(([name]) => name);
}

const DECIMAL = /^-?[0-9]+$/;

/**
 * Ajv coerces a parameter with `Number()`, which also reads `0x10`, `1e1`, `+5` and ` 5 `; an
 * integer parameter must be written in plain decimal digits (with `-` for a negative one). One
 * error for each of `names` whose value (or one of whose repeated values) is anything else.
 */
export function looseIntegers(data: unknown, names: string[]): ErrorObject[] {
  if (!data || typeof data !== 'object') return [];
  const errors: ErrorObject[] = [];
  for (const name of names) {
    const value = (data as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && !DECIMAL.test(v))) {
      errors.push({
        keyword: 'decimal',
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/type`,
        params: { type: 'integer' },
        message: 'must be an integer in plain decimal digits',
      });
    }
  }
  return errors;
}

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * The JSON Pointer of the first string (key or value) that is not well-formed Unicode: JSON's
 * `\ud800` escapes can spell a lone surrogate, which UTF-8 (and so PostgreSQL) cannot store.
 */
export function illFormedPointer(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const here = `${path}/${escapePointer(key)}`;
    if (!key.isWellFormed()) return here;
    const found = illFormedPointer(child, here);
    if (found !== undefined) return found;
  }
  return undefined;
}

function illFormed(pointer: string): ErrorObject {
  return {
    keyword: 'wellFormed',
    instancePath: pointer,
    schemaPath: '#',
    params: {},
    message: 'must be well-formed Unicode (no unpaired surrogate such as \\ud800)',
  };
}

type Validate = ReturnType<FastifySchemaCompiler<object>>;

/**
 * The validators compiled so far, by the part of the request and the schema's JSON text. Fastify
 * asks for one per route and part, and fastify-openapi-glue hands each route its own clone of
 * each schema, so the same schema (a page's limit and cursor, an id in the path) was compiled
 * again for every route, and Ajv kept each compiled copy for as long as the server runs. A
 * validator depends on its part and its schema alone.
 */
const validators = new Map<string, Validate>();

/** How many validators Fastify has asked for (one per route and request part), and how many were compiled (with Ajv). */
let asked = 0;
let compilations = 0;

/**
 * The validators Fastify asked for in this process and how many of them were compiled (one per
 * request part and distinct schema): what test/schemas-shared.test.ts checks of a whole server.
 */
export function validatorCounts(): { asked: number; compiled: number } {
  return { asked, compiled: compilations };
}

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  asked++;
  const schemaText = textOf(schema);
  const text = schemaText === undefined ? undefined : `${httpPart ?? ''} ${schemaText}`;
  let validate = text === undefined ? undefined : validators.get(text);
  if (validate === undefined) {
    validate = compileValidator(schema, httpPart);
    compilations++;
    if (text !== undefined) validators.set(text, validate);
  }
  return validate;
};

function compileValidator(schema: object, httpPart: string | undefined): Validate {
  const fail = (errors: ErrorObject[]) => ({ error: Object.assign(new Error('validation failed'), { validation: errors }) }) as never;
  if (httpPart === 'body') {
    const validate: ValidateFunction = bodies.compile(schema);
    return (data: unknown) => {
      if (!validate(data)) return fail(validate.errors ?? []);
      // After the schema, so the body's size and depth are already bounded.
      const pointer = illFormedPointer(data);
      return pointer === undefined ? ({ value: data } as never) : fail([illFormed(pointer)]);
    };
  }
  const compiled = httpPart === 'headers' ? lowerCaseHeaders(schema as Record<string, any>) : (schema as Record<string, any>);
  const validate: ValidateFunction = parameters.compile(compiled);
  const integers = integerParameters(compiled);
  return (data: unknown) => {
    const loose = looseIntegers(data, integers);
    if (validate(data) && loose.length === 0) return { value: data } as never;
    return fail([...loose, ...(validate.errors ?? [])]);
  };
}

const PREFIX: Record<string, string> = { querystring: 'query', params: 'path', headers: 'header' };

function detailOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed here';
    case 'type':
      return `must be ${String(error.params.type).replace(',', ' or ')}`;
    default:
      return error.message ?? 'is not valid';
  }
}

function pathOf(error: ErrorObject): string {
  if (error.keyword === 'required') return `${error.instancePath}/${String(error.params.missingProperty)}`;
  if (error.keyword === 'additionalProperties') return `${error.instancePath}/${String(error.params.additionalProperty)}`;
  return error.instancePath;
}

/** One problem per offending field, pointing into the body or naming the parameter. */
export function fieldProblems(errors: ErrorObject[], context: string): FieldProblem[] {
  const seen = new Map<string, FieldProblem>();
  for (const error of errors) {
    // A failed oneOf also reports each branch; the branch errors say more.
    if (error.keyword === 'oneOf' && errors.some((e) => e !== error && e.instancePath === error.instancePath)) continue;
    const path = pathOf(error);
    const name = path.split('/')[1] ?? '';
    const pointer = context === 'body' ? path : `${PREFIX[context] ?? context}/${context === 'headers' ? name.toLowerCase() : name}`;
    if (!seen.has(pointer)) seen.set(pointer, { pointer, detail: detailOf(error) });
  }
  return [...seen.values()];
}
