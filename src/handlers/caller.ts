// Helpers the handlers of every tag share: who is calling, and the paging arguments of a list.
import type { Caller } from '../services/accounts/index.ts';
import { ApiProblem } from './problem.ts';

export const DEFAULT_LIMIT = 20;

/** Where each paging field came from on the wire, for problem pointers. */
export const LIST_FIELDS = { cursor: 'query/cursor', page: 'query/page', between: 'query/between', tz: 'query/tz' };

export function signedIn(caller: Caller | null): Caller {
  // The spec requires bearerAuth for the operations that call this, so the security handler has run.
  if (!caller) throw new ApiProblem('unauthenticated', 'sign in first');
  return caller;
}

export function paging(query: { limit?: number; cursor?: string; page?: number; sort?: 'createdAt' | '-createdAt' }) {
  return {
    limit: query.limit ?? DEFAULT_LIMIT,
    cursor: query.cursor,
    page: query.page,
    newestFirst: (query.sort ?? '-createdAt') === '-createdAt',
  };
}
