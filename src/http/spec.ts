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

/** Each contract as parsed, held weakly: a server drops it once started (1.6 MB on the heap for v1). */
const parsed = new Map<string, WeakRef<Spec>>();

/**
 * The contract at `path`, read and parsed once while the parse is still held (YAML parsing costs
 * about a quarter of a second for `openapi.yaml`; a process that builds several apps, as the
 * tests do, pays it once). Each call gets a document of its own: the app's plugins may add to
 * the one they are given.
 */
export function loadSpec(path: URL = specPath): Spec {
  let spec = parsed.get(path.href)?.deref();
  if (!spec) {
    const text = readFileSync(path, 'utf8');
    spec = { text, document: parse(text) as OpenApiDocument };
    parsed.set(path.href, new WeakRef(spec));
  }
  return { text: spec.text, document: structuredClone(spec.document) };
}
