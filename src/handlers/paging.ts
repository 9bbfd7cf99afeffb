// The paging arguments of a list, as every tag's list operations read them.

export const DEFAULT_LIMIT = 20;

export function paging(query: { limit?: number; cursor?: string; page?: number; sort?: 'createdAt' | '-createdAt' }) {
  return {
    limit: query.limit ?? DEFAULT_LIMIT,
    cursor: query.cursor,
    page: query.page,
    newestFirst: (query.sort ?? '-createdAt') === '-createdAt',
  };
}
