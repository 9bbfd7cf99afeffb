// Measures what the caches bounded by weight hold for one kind of entry, against their estimate,
// in a process of its own (test/unit-cache-weights.test.ts runs it once per case): in the test's
// process, what the test runner allocates and frees meanwhile moved the heap by megabytes.
//
//   node test/helpers/cache-weight-probe.ts <case>    prints {"held": bytes, "estimated": bytes, "passes": [bytes]}, per entry
import { randomUUID } from 'node:crypto';
import { InvalidatedCache, TaggedCache } from '../../src/services/cache.ts';
import { keptChannelBytes } from '../../src/services/channels/channels-service.ts';
import { keptRecordBytes } from '../../src/services/idempotency/idempotency-service.ts';
import { KeptPosts, keptPostBytes } from '../../src/services/posts/kept.ts';
import { feedPageBytes, keep, pageTags, type CachedPage } from '../../src/services/timelines/timelines-service.ts';
import type { ChannelRow } from '../../src/persistence/channels/index.ts';
import type { StoredRecord } from '../../src/persistence/idempotency/index.ts';
import type { PostRow } from '../../src/persistence/posts/index.ts';
import type { FeedRow } from '../../src/persistence/timelines/index.ts';
import { FakeSource } from './fake-invalidations.ts';
import { collectGarbage } from './gc.ts';

/** A string made as `pg` makes a column's value: decoded from bytes, flat, of its own. */
const fresh = (text: string) => Buffer.from(text, 'utf8').toString('utf8');
const LATIN = 'lorem ipsum dolor sit amet ';
const GREEK = 'λόγος καὶ ἔργον ';
const textOf = (i: number, length: number, alphabet: string) => fresh(`${i} ${alphabet.repeat(Math.ceil(length / alphabet.length))}`.slice(0, length));

/** Heap bytes per entry that `count` entries made by `make` take once `keep` has kept them, and their mean estimate. */
async function measure<V>(count: number, make: (i: number) => V, keepIt: (value: V) => unknown, estimate: (value: V) => number): Promise<{ held: number; estimated: number }> {
  // Twice: what the first collection frees may let the second free more (weakly held objects).
  collectGarbage();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  let estimated = 0;
  for (let i = 0; i < count; i++) {
    const value = make(i);
    estimated += estimate(value);
    await keepIt(value);
  }
  collectGarbage();
  collectGarbage();
  return { held: (process.memoryUsage().heapUsed - before) / count, estimated: estimated / count };
}

// Feed pages, kept as the feed keeps them (keep, pageTags) in a TaggedCache.
async function feedPages(pages: number, rows: number, length: number, alphabet: string) {
  const cache = new TaggedCache<CachedPage>(
    { source: new FakeSource(), maxEntries: pages + 1 },
    { name: 'feed_pages', topics: ['f', 'n', 'p'], tagsOf: pageTags, maxEntries: pages + 1, ttlMs: 60_000 },
  );
  const rowsOf = (): FeedRow[] =>
    Array.from({ length: rows }, (_, i) => ({ id: fresh(randomUUID()), authorId: fresh(randomUUID()), channelId: null, text: textOf(i, length, alphabet), createdAt: new Date(), updatedAt: new Date(), version: 3 }));
  const result = await measure(
    pages,
    () => {
      const owner = fresh(randomUUID());
      return keep(owner, [owner], rowsOf());
    },
    (page) => cache.set(`${page.ownerId} ${rows} `, page, cache.stamp()),
    feedPageBytes,
  );
  if (cache.size !== pages) throw new Error(`${cache.size} of ${pages} pages kept`);
  return result;
}


// Posts by id, kept as the posts domain keeps them: by id, tagged with it.
function posts(count: number, length: number, alphabet: string) {
  const cache = new TaggedCache<PostRow>(
    { source: new FakeSource(), maxEntries: count + 1 },
    { name: 'posts', topics: ['o'], tagsOf: (row) => [['o', row.id]], maxEntries: count + 1, ttlMs: 60_000 },
  );
  return measure(
    count,
    (i): PostRow => ({ id: fresh(randomUUID()), authorId: fresh(randomUUID()), channelId: i % 2 ? fresh(randomUUID()) : null, text: textOf(i, length, alphabet), createdAt: new Date(), updatedAt: new Date(), version: 1 }),
    (row) => cache.set(row.id, row, cache.stamp()),
    keptPostBytes,
  );
}


// Pages of a channel's posts, kept as KeptPosts keeps them (the rows read, and the page made of them).
function channelPages(pages: number, length: number, alphabet: string) {
  const kept = new KeptPosts({ source: new FakeSource(), maxEntries: pages + 1 }, { cacheBytes: 0, channelPageCacheBytes: 1024 ** 4 });
  const rowsOf = (channelId: string): PostRow[] =>
    Array.from({ length: 21 }, (_, i) => ({ id: fresh(randomUUID()), authorId: fresh(randomUUID()), channelId, text: textOf(i, length, alphabet), createdAt: new Date(), updatedAt: new Date(), version: 1 }));
  return measure(
    pages,
    () => {
      const channelId = fresh(randomUUID());
      const read = rowsOf(channelId);
      return { channelId, read, page: { items: read.slice(0, 20), nextCursor: fresh(`c.${'x'.repeat(120)}`) } };
    },
    (made) => kept.channelPage({ channelId: made.channelId, limit: 20, newestFirst: true }, async () => made),
    (made) => 200 + made.read.reduce((bytes, row) => bytes + keptPostBytes(row), 0),
  );
}

// Channels, kept by id in an InvalidatedCache.
function channels(count: number, nameLength: number, descriptionLength: number, alphabet: string) {
  const cache = new InvalidatedCache<ChannelRow>({ source: new FakeSource(), maxEntries: count + 1 }, { name: 'channels', topic: 'c' });
  return measure(
    count,
    (i): ChannelRow => ({
      id: fresh(randomUUID()),
      ownerId: fresh(randomUUID()),
      name: textOf(i, nameLength, alphabet),
      description: descriptionLength === 0 ? '' : textOf(i, descriptionLength, alphabet),
      visibility: i % 2 ? 'public' : 'private',
      createdAt: new Date(),
      updatedAt: new Date(),
      version: 2,
    }),
    (row) => cache.set(row.id, row, cache.stamp()),
    keptChannelBytes,
  );
}


// Idempotency records, kept by their record id in an InvalidatedCache.
function records(count: number, bodyLength: number, alphabet: string) {
  const cache = new InvalidatedCache<StoredRecord>({ source: new FakeSource(), maxEntries: count + 1 }, { name: 'idempotency_replays', topic: 'i' });
  return measure(
    count,
    (i): StoredRecord => ({
      scope: fresh(randomUUID()),
      operation: 'createPost',
      key: fresh(randomUUID()),
      fingerprint: fresh('f'.repeat(64)),
      response: {
        status: 201,
        headers: { location: fresh(`/v1/posts/${randomUUID()}`), etag: fresh('"1"'), 'content-type': 'application/json; charset=utf-8' },
        body: fresh(`{"text":${JSON.stringify(textOf(i, bodyLength, alphabet))}}`),
      },
      createdAt: new Date(),
      expiresAt: new Date(),
    }),
    (record) => cache.set(fresh(`${record.scope} ${record.operation} ${record.key}`), record, cache.stamp()),
    keptRecordBytes,
  );
}

/** The cases, by what each keeps. */
export const CASES: Record<string, () => Promise<{ held: number; estimated: number }>> = {
  'a feed page of 21 posts of 100 Latin-1 characters (the bench’s)': () => feedPages(1000, 21, 100, LATIN),
  'a feed page of 21 posts of 5,000 Latin-1 characters': () => feedPages(100, 21, 5000, LATIN),
  'a feed page of 21 posts of 5,000 Greek characters': () => feedPages(100, 21, 5000, GREEK),
  'a feed page of 21 posts of one character': () => feedPages(1000, 21, 1, 'x'),
  'an empty feed page': () => feedPages(1000, 0, 1, 'x'),
  'a post of 100 Latin-1 characters': () => posts(5000, 100, LATIN),
  'a post of 5,000 Greek characters': () => posts(500, 5000, GREEK),
  'a post of one character': () => posts(5000, 1, 'x'),
  'a page of a channel of 21 posts of 100 Latin-1 characters': () => channelPages(1000, 100, LATIN),
  'a page of a channel of 21 posts of one character': () => channelPages(1000, 1, 'x'),
  'a channel with a short name and no description': () => channels(5000, 8, 0, 'x'),
  'a channel with a name of 80 and a description of 1,000 Greek characters': () => channels(2000, 80, 1000, GREEK),
  'a channel with a name of 30 and a description of 200 Latin-1 characters': () => channels(5000, 30, 200, LATIN),
  'a keyed request’s record with a body of 500 Latin-1 characters': () => records(5000, 500, LATIN),
  'a keyed request’s record with a body of 16,000 Greek characters': () => records(200, 16_000, GREEK),
  'a keyed request’s record with an empty body': () => records(5000, 0, 'x'),
};

if (import.meta.main) {
  const which = process.argv[2] ?? '';
  const measured = CASES[which];
  if (!measured) throw new Error(`no case "${which}": ${Object.keys(CASES).join(', ')}`);
  // A first pass compiles and tiers up the code the entries go through, and grows what grows
  // once; it is not counted. Then three passes, each with a cache of its own (the one before is
  // garbage by then), and the middle one: a collection's timing once added about 550 bytes an
  // entry to one pass of 1,000 (a fresh-clone CI run on a busy machine), which no entry holds.
  await measured();
  const passes: { held: number; estimated: number }[] = [];
  for (let i = 0; i < 3; i++) passes.push(await measured());
  passes.sort((a, b) => a.held - b.held);
  process.stdout.write(`${JSON.stringify({ ...passes[1], passes: passes.map((pass) => Math.round(pass.held)) })}\n`);
}
