// Conditional requests (RFC 9110, 13), switched on by the headers an operation declares:
// - If-None-Match on a GET: when it names the current ETag of a 200, the answer is 304 without
//   a body (HEAD too, which Fastify answers with the GET route);
// - If-Match: the version it names is handed to the handler as `expectedVersion`, a plain number
//   the service compares with the current one (412 when stale). Its absence where the contract
//   requires it is refused by validation, with 428 (plugins/errors.ts).
import type { OperationPlugin } from '../pipeline.ts';
import '../types.ts';

/**
 * The version an If-Match header asks for: undefined for `*` or when absent (no precondition).
 * A header that names no version we could have issued can never match.
 */
export function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^\s*"(0|[1-9]\d{0,9})"\s*$/.exec(ifMatch);
  // Strong comparison: only the exact tag we issued ("7", not "07"). -1 is never a current
  // version (a weak tag never matches one), so the write reports it stale.
  return match ? Number(match[1]) : -1;
}

/**
 * Whether an If-None-Match header names the current entity tag, so that a GET can answer 304.
 * If-None-Match uses the weak comparison (RFC 9110, 13.1.2): `W/"3"` matches `"3"`.
 */
export function noneMatchHits(ifNoneMatch: string | undefined, current: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === opaque(current));
}

export const conditionalRequests: OperationPlugin = ({ method, parameters }) => {
  const ifMatch = parameters.get('if-match')?.in === 'header';
  const ifNoneMatch = method === 'get' && parameters.get('if-none-match')?.in === 'header';
  if (!ifMatch && !ifNoneMatch) return undefined;
  return (next) => async (request, reply) => {
    if (ifMatch) request.expectedVersion = expectedVersion(request.headers['if-match']);
    const response = await next(request, reply);
    const etag = response.headers.etag;
    if (ifNoneMatch && response.status === 200 && etag && noneMatchHits(request.headers['if-none-match'], etag)) {
      return { status: 304, headers: { etag }, body: undefined };
    }
    return response;
  };
};
