// Cursors of notification lists. Notifications are ordered by their position (`seq`, a bigint
// PostgreSQL assigns), not by id or time, so the shared uuid cursors of ../pagination.ts do not
// fit; these follow the same rules: opaque, keyset, bound to the filters they were issued for.
import { hash } from 'node:crypto';
import { InvalidInput } from '../errors.ts';

export type Start = { beforeSeq?: string; offset?: number };

function fingerprint(filters: Record<string, unknown>): string {
  return hash('sha256', JSON.stringify(filters), 'base64url').slice(0, 12);
}

export function encodeCursor(seq: string, filters: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ s: seq, f: fingerprint(filters) })).toString('base64url');
}

const SEQ = /^[1-9]\d{0,18}$/;

/** Where a page starts: below a cursor's position, at a page's offset, or at the newest. */
export function start(request: { limit: number; cursor?: string; page?: number }, filters: Record<string, unknown>, maxPage: number): Start {
  if (request.cursor !== undefined && request.page !== undefined) {
    throw new InvalidInput([{ field: 'page', detail: 'cannot be combined with cursor' }]);
  }
  if (request.page !== undefined) {
    if (request.page > maxPage) throw new InvalidInput([{ field: 'page', detail: `must be at most ${maxPage}; follow nextCursor to read further` }]);
    return { offset: (request.page - 1) * request.limit };
  }
  if (request.cursor === undefined) return {};
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(request.cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const { s, f } = (decoded ?? {}) as { s?: unknown; f?: unknown };
  if (typeof s !== 'string' || !SEQ.test(s) || typeof f !== 'string') {
    throw new InvalidInput([{ field: 'cursor', detail: 'is not a cursor this API issued' }]);
  }
  if (f !== fingerprint(filters)) {
    throw new InvalidInput([{ field: 'cursor', detail: 'was issued for other filters; start again without it' }]);
  }
  return { beforeSeq: s };
}

/** The cursor after `limit` of `rows` (read with one extra row), or null on the last page. */
export function nextCursor<T>(rows: T[], limit: number, seqOf: (row: T) => string, filters: Record<string, unknown>): string | null {
  const last = rows[limit - 1];
  return rows.length > limit && last !== undefined ? encodeCursor(seqOf(last), filters) : null;
}
