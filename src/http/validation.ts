// Request validation with JSON Schema 2020-12 (OpenAPI 3.1's dialect). Unknown properties are
// rejected, never stripped; bodies are never coerced, parameters are (they arrive as strings).
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldProblem } from '../handlers/index.ts';

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

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodies : parameters;
  const validate: ValidateFunction = ajv.compile(httpPart === 'headers' ? lowerCaseHeaders(schema as Record<string, any>) : schema);
  return (data: unknown) => (validate(data) ? { value: data } : { error: Object.assign(new Error('validation failed'), { validation: validate.errors }) }) as never;
};

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
