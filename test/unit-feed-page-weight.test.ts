// What a kept feed page is estimated to weigh (feedPageBytes, the weight TIMELINE_CACHE_MB bounds)
// against what pages take on the heap once kept in a TaggedCache as the feed keeps them, index
// entries included: the estimate must not fall below it (or the bound would not bound), nor
// waste most of the budget. Pages of short and long posts, of Latin-1 text (one byte a
// character) and of other text (two).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { TaggedCache } from '../src/services/cache.ts';
import { feedPageBytes, keep, pageTags, type CachedPage } from '../src/services/timelines/timelines-service.ts';
import type { FeedRow } from '../src/persistence/timelines/index.ts';
import { FakeSource } from './helpers/fake-invalidations.ts';
import { collectGarbage } from './helpers/gc.ts';

/** A string made as `pg` makes a column's value: decoded from bytes, flat, of its own. */
const fresh = (text: string) => Buffer.from(text, 'utf8').toString('utf8');

function rowsOf(count: number, length: number, alphabet: string): FeedRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: fresh(randomUUID()),
    authorId: fresh(randomUUID()),
    channelId: null,
    text: fresh(`${i} ${alphabet.repeat(Math.ceil(length / alphabet.length))}`.slice(0, length)),
    createdAt: new Date(),
    updatedAt: new Date(),
    version: 3,
  }));
}

/** Heap bytes per page that `pages` pages of `rows` posts of `length` characters take once kept, and the estimate. */
function measure(pages: number, rows: number, length: number, alphabet: string): { held: number; estimated: number } {
  const cache = new TaggedCache<CachedPage>(
    { source: new FakeSource(), maxEntries: pages + 1 },
    { name: 'feed_pages', topics: ['f', 'n', 'p'], tagsOf: pageTags, maxEntries: pages + 1, ttlMs: 60_000 },
  );
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  let estimated = 0;
  for (let i = 0; i < pages; i++) {
    const owner = fresh(randomUUID());
    const page = keep(owner, [owner], rowsOf(rows, length, alphabet));
    estimated += feedPageBytes(page);
    cache.set(`${owner} ${rows} `, page, cache.stamp());
  }
  collectGarbage();
  const held = process.memoryUsage().heapUsed - before;
  t.equal(cache.size, pages, 'every page was kept');
  return { held: held / pages, estimated: estimated / pages };
}

const cases = [
  { what: '21 posts of 100 Latin-1 characters (the bench’s)', pages: 1000, rows: 21, length: 100, alphabet: 'lorem ipsum dolor sit amet ' },
  { what: '21 posts of 5,000 Latin-1 characters', pages: 100, rows: 21, length: 5000, alphabet: 'lorem ipsum dolor sit amet ' },
  { what: '21 posts of 5,000 Greek characters', pages: 100, rows: 21, length: 5000, alphabet: 'λόγος καὶ ἔργον ' },
  { what: '21 posts of one character', pages: 1000, rows: 21, length: 1, alphabet: 'x' },
  { what: 'an empty page', pages: 1000, rows: 0, length: 1, alphabet: 'x' },
];

for (const c of cases) {
  t.test(`a page of ${c.what}: the estimate covers what it holds, within 2.5 ×`, async (t) => {
    const { held, estimated } = measure(c.pages, c.rows, c.length, c.alphabet);
    t.comment(`held ${Math.round(held)} bytes a page, estimated ${Math.round(estimated)}`);
    t.ok(estimated >= held, `estimated ${Math.round(estimated)} ≥ held ${Math.round(held)}`);
    t.ok(estimated <= 2.5 * held, `estimated ${Math.round(estimated)} ≤ 2.5 × held ${Math.round(held)}`);
  });
}
