// The contract as written, loaded once.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const specPath = new URL('../../openapi.yaml', import.meta.url);

export interface Spec {
  text: string;
  document: OpenApiDocument;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export function loadSpec(): Spec {
  const text = readFileSync(specPath, 'utf8');
  return { text, document: parse(text) as OpenApiDocument };
}
