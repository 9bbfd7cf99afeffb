// A schema's JSON text: the key under which compiled serializers (serialization.ts) and
// validators (validation.ts) are kept, since fastify-openapi-glue hands every route its own clone
// of each schema and the compiled function depends on the schema's content alone.

/** `schema` as JSON text, or undefined for one JSON cannot write (a cycle): such a schema is compiled on its own. */
export function textOf(schema: unknown): string | undefined {
  try {
    return JSON.stringify(schema);
  } catch {
    return undefined;
  }
}
