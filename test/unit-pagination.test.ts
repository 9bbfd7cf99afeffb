// Cursors, fingerprints and page caps of the keyset pagination every list uses
// (src/services/pagination.ts), without a server or a database.
import t, { type Test } from 'tap';
import { InvalidInput } from '../src/services/errors.ts';
import { encodeCursor, pageStart, toPage } from '../src/services/pagination.ts';

const ID = '0195f3a2-7c1e-7b4d-9a51-3c2e8f6d1a07';
const OTHER_ID = '0195f3a2-7c1e-7b4d-9a51-3c2e8f6d1a08';
const MAX_PAGE = 5;

/** The cursor's JSON, as a client could read (and alter) it. */
const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');

/** The one field error `run` is refused with. */
function refusal(t: Test, run: () => unknown): { field: string; detail: string } | undefined {
  try {
    run();
  } catch (error) {
    t.type(error, InvalidInput);
    const errors = (error as InvalidInput).errors;
    t.equal(errors.length, 1);
    return errors[0];
  }
  t.fail('was not refused');
  return undefined;
}

const NOT_OURS = { field: 'cursor', detail: 'is not a cursor this API issued' };
const OTHER_FILTERS = { field: 'cursor', detail: 'was issued for other filters or sort; start again without it' };

t.test('a cursor is base64url JSON of the last id and a 12-character fingerprint of the filters', async (t) => {
  const cursor = encodeCursor(ID, { ownerId: 'x' });
  t.match(cursor, /^[A-Za-z0-9_-]+$/, 'URL-safe, unpadded');
  const body = decode(cursor);
  t.same(Object.keys(body), ['a', 'f']);
  t.equal(body.a, ID);
  t.match(body.f, /^[A-Za-z0-9_-]{12}$/);
  const timed = decode(encodeCursor(ID, { ownerId: 'x' }, new Date('2026-03-01T12:00:00.123Z')));
  t.same(timed, { a: ID, t: Date.parse('2026-03-01T12:00:00.123Z'), f: body.f }, 'a list by time carries the time in ms');
});

t.test('a cursor is the text earlier releases issued, so that one issued before a deploy still works after it', async (t) => {
  const id = '01936f9e-8c2a-7b3d-9e4f-0a1b2c3d4e5f';
  const at = new Date('2026-03-01T12:00:00.123Z');
  // Made by the release of 2026-12-06 (a8e938e), for an account's posts and for a list by id.
  const issued = 'eyJhIjoiMDE5MzZmOWUtOGMyYS03YjNkLTllNGYtMGExYjJjM2Q0ZTVmIiwidCI6MTc3MjM2NjQwMDEyMywiZiI6IjgyMURubUN5aUZpSSJ9';
  t.equal(encodeCursor(id, { authorId: id, newestFirst: true }, at), issued);
  t.equal(encodeCursor(id, { authorId: id, from: undefined, to: undefined, newestFirst: true }, at), issued, 'a filter left undefined is no filter');
  t.equal(encodeCursor(id, { ownerId: 'x' }), 'eyJhIjoiMDE5MzZmOWUtOGMyYS03YjNkLTllNGYtMGExYjJjM2Q0ZTVmIiwiZiI6IjNhejREQWw3Vk9RcSJ9');
});

t.test('a cursor reads back as the position it was issued at', async (t) => {
  const filters = { channelId: 'c1', newestFirst: true };
  t.same(pageStart({ limit: 10, cursor: encodeCursor(ID, filters) }, filters, MAX_PAGE), { afterId: ID });
  const at = new Date('2026-03-01T12:00:00.123Z');
  const start = pageStart({ limit: 10, cursor: encodeCursor(ID, filters, at) }, filters, MAX_PAGE, { byTime: true });
  t.equal(start.afterId, ID);
  t.equal(start.afterAt?.toISOString(), '2026-03-01T12:00:00.123Z');
  t.equal(start.offset, undefined);
});

t.test('without cursor or page a list starts at its beginning', async (t) => {
  t.same(pageStart({ limit: 10 }, {}, MAX_PAGE), {});
  t.same(pageStart({ limit: 10 }, { a: 1 }, MAX_PAGE, { byTime: true }), {});
});

t.test('the fingerprint ignores the order of the filters and those left undefined', async (t) => {
  const cursor = encodeCursor(ID, { b: 2, a: 'x' });
  t.same(pageStart({ limit: 10, cursor }, { a: 'x', b: 2, c: undefined }, MAX_PAGE), { afterId: ID });
  t.equal(decode(cursor).f, decode(encodeCursor(OTHER_ID, { a: 'x', b: 2 })).f, 'the same filters, the same fingerprint');
});

t.test('a cursor replayed with other filters or sort is refused', async (t) => {
  const cursor = encodeCursor(ID, { channelId: 'c1', newestFirst: true });
  t.same(refusal(t, () => pageStart({ limit: 10, cursor }, { channelId: 'c2', newestFirst: true }, MAX_PAGE)), OTHER_FILTERS, 'another value');
  t.same(refusal(t, () => pageStart({ limit: 10, cursor }, { channelId: 'c1', newestFirst: false }, MAX_PAGE)), OTHER_FILTERS, 'another sort');
  t.same(refusal(t, () => pageStart({ limit: 10, cursor }, { channelId: 'c1' }, MAX_PAGE)), OTHER_FILTERS, 'a filter dropped');
  t.same(refusal(t, () => pageStart({ limit: 10, cursor }, { channelId: 'c1', newestFirst: true, q: 'x' }, MAX_PAGE)), OTHER_FILTERS, 'a filter added');
  t.same(
    refusal(t, () => pageStart({ limit: 10, cursor: encodeCursor(ID, { x: 1 }) }, { x: '1' }, MAX_PAGE)),
    OTHER_FILTERS,
    'a number and a string of the same digits differ',
  );
  t.same(
    refusal(t, () => pageStart({ limit: 10, cursor: encodeCursor(ID, { x: null }) }, {}, MAX_PAGE)),
    OTHER_FILTERS,
    'null is a value, unlike undefined',
  );
});

t.test('a cursor of a list by time does not fit a list by id, nor the other way round', async (t) => {
  const filters = { ownerId: 'x' };
  const timed = encodeCursor(ID, filters, new Date(1_700_000_000_000));
  t.same(refusal(t, () => pageStart({ limit: 10, cursor: timed }, filters, MAX_PAGE)), NOT_OURS);
  t.same(refusal(t, () => pageStart({ limit: 10, cursor: encodeCursor(ID, filters) }, filters, MAX_PAGE, { byTime: true })), NOT_OURS);
});

t.test('garbage and tampered cursors are refused as not issued here', async (t) => {
  const filters = { ownerId: 'x' };
  const f = decode(encodeCursor(ID, filters)).f;
  const garbage: [string, string][] = [
    ['', 'empty'],
    ['%%%', 'not base64url'],
    ['bm90IGpzb24', 'base64url of text that is not JSON'],
    [forge(null), 'JSON null'],
    [forge([ID, f]), 'a JSON array'],
    [forge('cursor'), 'a JSON string'],
    [forge({ f }), 'no id'],
    [forge({ a: ID }), 'no fingerprint'],
    [forge({ a: 42, f }), 'a number for the id'],
    [forge({ a: 'not-a-uuid', f }), 'an id that is not a UUID'],
    [forge({ a: ID.toUpperCase(), f }), 'an id this API never spells so'],
    [forge({ a: `${ID}\n`, f }), 'an id with a trailing newline'],
    [forge({ a: ID, f: 7 }), 'a number for the fingerprint'],
    [forge({ a: ID, f, t: 1_700_000_000_000 }), 'a time on a list by id'],
  ];
  for (const [cursor, why] of garbage) {
    t.same(refusal(t, () => pageStart({ limit: 10, cursor }, filters, MAX_PAGE)), NOT_OURS, why);
  }
  const timedGarbage: [unknown, string][] = [
    [undefined, 'no time'],
    ['1700000000000', 'a string for the time'],
    [1_700_000_000_000.5, 'a fraction of a millisecond'],
    [2 ** 53, 'beyond the safe integers'],
    [null, 'null'],
  ];
  for (const [time, why] of timedGarbage) {
    t.same(refusal(t, () => pageStart({ limit: 10, cursor: forge({ a: ID, t: time, f }) }, filters, MAX_PAGE, { byTime: true })), NOT_OURS, why);
  }
});

t.test('an altered fingerprint reads as a cursor of other filters; the id alone is a position, not a secret', async (t) => {
  const filters = { ownerId: 'x' };
  t.same(refusal(t, () => pageStart({ limit: 10, cursor: forge({ a: ID, f: 'AAAAAAAAAAAA' }) }, filters, MAX_PAGE)), OTHER_FILTERS);
  const f = decode(encodeCursor(ID, filters)).f;
  t.same(pageStart({ limit: 10, cursor: forge({ a: OTHER_ID, f }) }, filters, MAX_PAGE), { afterId: OTHER_ID });
});

t.test('page turns into an offset of whole pages, up to the configured maximum', async (t) => {
  t.same(pageStart({ limit: 10, page: 1 }, {}, MAX_PAGE), { offset: 0 });
  t.same(pageStart({ limit: 10, page: 3 }, {}, MAX_PAGE), { offset: 20 });
  t.same(pageStart({ limit: 25, page: MAX_PAGE }, {}, MAX_PAGE, { byTime: true }), { offset: 100 });
  t.same(refusal(t, () => pageStart({ limit: 10, page: MAX_PAGE + 1 }, {}, MAX_PAGE)), {
    field: 'page',
    detail: 'must be at most 5; follow nextCursor to read further',
  });
});

t.test('page and cursor together are refused, even a valid cursor', async (t) => {
  const cursor = encodeCursor(ID, {});
  t.same(refusal(t, () => pageStart({ limit: 10, page: 1, cursor }, {}, MAX_PAGE)), { field: 'page', detail: 'cannot be combined with cursor' });
});

t.test('toPage keeps `limit` rows and gives a cursor after the last only when a row is left over', async (t) => {
  const rows = [1, 2, 3, 4].map((n) => ({ id: `0195f3a2-7c1e-7b4d-9a51-00000000000${n}`, at: new Date(n * 1000) }));
  const filters = { ownerId: 'x' };

  const full = toPage(rows, 3, filters);
  t.same(full.items.map((r) => r.id), rows.slice(0, 3).map((r) => r.id));
  t.equal(full.nextCursor, encodeCursor(rows[2]!.id, filters));
  t.same(pageStart({ limit: 3, cursor: full.nextCursor! }, filters, MAX_PAGE), { afterId: rows[2]!.id });

  t.same(toPage(rows.slice(0, 3), 3, filters), { items: rows.slice(0, 3), nextCursor: null }, 'exactly limit rows: the end');
  t.same(toPage(rows.slice(0, 2), 3, filters), { items: rows.slice(0, 2), nextCursor: null }, 'fewer rows: the end');
  t.same(toPage([], 3, filters), { items: [], nextCursor: null });

  const timed = toPage(rows, 2, filters, (r) => r.at);
  t.equal(timed.nextCursor, encodeCursor(rows[1]!.id, filters, new Date(2000)));
  const start = pageStart({ limit: 2, cursor: timed.nextCursor! }, filters, MAX_PAGE, { byTime: true });
  t.same(start, { afterId: rows[1]!.id, afterAt: new Date(2000) });
});

t.test('a cursor time must be one PostgreSQL and toISOString can take: years 1 to 9999', async (t) => {
  const filters = { ownerId: 'x' };
  const f = decode(encodeCursor(ID, filters)).f;
  const first = Date.parse('0001-01-01T00:00:00.000Z');
  const last = Date.parse('9999-12-31T23:59:59.999Z');
  for (const time of [first, 0, last]) {
    const start = pageStart({ limit: 10, cursor: forge({ a: ID, t: time, f }) }, filters, MAX_PAGE, { byTime: true });
    t.equal(start.afterAt?.getTime(), time, `${new Date(time).toISOString()} is kept`);
  }
  const outside: [number, string][] = [
    [first - 1, 'year 0, which PostgreSQL refuses'],
    [last + 1, 'year 10000, which toISOString writes as +010000'],
    [8.64e15 + 1, 'past the last Date: an Invalid Date, whose toISOString throws'],
    [-9e15, 'before the first Date'],
  ];
  for (const [time, why] of outside) {
    t.same(refusal(t, () => pageStart({ limit: 10, cursor: forge({ a: ID, t: time, f }) }, filters, MAX_PAGE, { byTime: true })), NOT_OURS, why);
  }
});
