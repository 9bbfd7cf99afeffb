// The contract as written, loaded once.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const specPath = new URL('../../openapi.yaml', import.meta.url);
/** Version 2's contract, served under /v2 beside version 1. */
export const specV2Path = new URL('../../openapi-v2.yaml', import.meta.url);

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

export function loadSpec(path: URL = specPath): Spec {
  const text = readFileSync(path, 'utf8');
  return { text, document: parse(text) as OpenApiDocument };
}
