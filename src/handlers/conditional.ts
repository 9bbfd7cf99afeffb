// Entity tags carry a resource's version: `"3"`. Only strong comparison applies to If-Match.
import { ApiProblem } from './problem.ts';

export function etag(version: number): string {
  return `"${version}"`;
}

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

export function requireIfMatch(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined) {
    throw new ApiProblem('precondition-required', 'send If-Match with the ETag you last read', {
      errors: [{ pointer: 'header/if-match', detail: 'is required' }],
    });
  }
  return expectedVersion(ifMatch);
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
