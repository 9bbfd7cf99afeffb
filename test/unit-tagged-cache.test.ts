// TaggedCache (src/services/cache.ts), the cache of feed pages, on a fake invalidation source the
// test drives: an entry depends on several things (tags), any of which evicts it; resets and
// reset topics empty it; reads that raced an eviction of their own tags are not stored, while
// evictions of other tags do not stop them; entries expire; the size and weight bounds; and `usable`.
import t from 'tap';
import { TaggedCache, type CacheObserver } from '../src/services/cache.ts';
import { FakeSource } from './helpers/fake-invalidations.ts';

interface Page {
  owner: string;
  posts: string[];
}

function setup(options: { maxEntries?: number; ttlMs?: number; usable?: () => boolean; maxWeight?: number } = {}) {
  const source = new FakeSource();
  const counts = { hit: 0, miss: 0, bypassed: 0 };
  const observe: CacheObserver = (_, outcome, count) => (counts[outcome] += count);
  let now = 0;
  const cache = new TaggedCache<Page>(
    { source, maxEntries: 100, observe },
    {
      name: 'pages',
      topics: ['f', 'p'],
      resetTopics: ['h'],
      tagsOf: function* (page) {
        yield ['f', page.owner] as const;
        for (const post of page.posts) yield ['p', post] as const;
      },
      maxEntries: options.maxEntries ?? 10,
      ttlMs: options.ttlMs ?? 1000,
      ...(options.usable ? { usable: options.usable } : {}),
      ...(options.maxWeight !== undefined ? { weightOf: (page: Page) => page.posts.length, maxWeight: options.maxWeight } : {}),
      now: () => now,
    },
  );
  const put = (key: string, page: Page) => cache.set(key, page, cache.stamp());
  return { source, cache, counts, put, advance: (ms: number) => (now += ms) };
}

t.test('an entry is evicted by a notification naming any of its tags, and only those', async (t) => {
  const { source, cache, put, counts } = setup();
  put('a 10', { owner: 'a', posts: ['p1', 'p2'] });
  put('b 10', { owner: 'b', posts: ['p2', 'p3'] });
  put('c 10', { owner: 'c', posts: ['p4'] });
  t.same(cache.get('a 10'), { owner: 'a', posts: ['p1', 'p2'] });
  source.notify('p', ['p2']);
  t.equal(cache.get('a 10'), undefined, 'a post it read changed');
  t.equal(cache.get('b 10'), undefined, 'so did one of this one');
  t.ok(cache.get('c 10'), 'another page stays');
  source.notify('f', ['c']);
  t.equal(cache.get('c 10'), undefined, 'its owner’s timeline changed');
  source.notify('x', ['c']);
  t.same(counts, { hit: 2, miss: 3, bypassed: 0 });
  t.equal(cache.size, 0);
});

t.test('a reset of the source, or a notification on a reset topic, empties it', async (t) => {
  const { source, cache, put } = setup();
  put('a', { owner: 'a', posts: [] });
  source.notify('h', ['']);
  t.equal(cache.get('a'), undefined);
  put('a', { owner: 'a', posts: [] });
  source.reset();
  t.equal(cache.get('a'), undefined);
  t.equal(cache.size, 0);
});

t.test('a read that raced an eviction of its own tags is not stored; one that raced others is', async (t) => {
  const { source, cache } = setup();
  let stamp = cache.stamp();
  source.notify('p', ['p1']);
  cache.set('a', { owner: 'a', posts: ['p1'] }, stamp);
  t.equal(cache.get('a'), undefined, 'p1 changed while it was read');
  stamp = cache.stamp();
  source.notify('p', ['p9']);
  source.notify('f', ['b']);
  cache.set('a', { owner: 'a', posts: ['p1'] }, stamp);
  t.ok(cache.get('a'), 'what changed meanwhile is not what it read');
  stamp = cache.stamp();
  source.reset();
  cache.set('b', { owner: 'b', posts: [] }, stamp);
  t.equal(cache.get('b'), undefined, 'a reset since its stamp');
  stamp = cache.stamp();
  // More evictions than it remembers: it cannot tell, so it does not store.
  for (let i = 0; i < 300; i++) source.notify('p', [`q${i}`]);
  cache.set('c', { owner: 'c', posts: [] }, stamp);
  t.equal(cache.get('c'), undefined, 'too many evictions since to tell');
  stamp = cache.stamp();
  source.notify('f', Array.from({ length: 30_000 }, (_, i) => `o${i}`));
  cache.set('d', { owner: 'o5', posts: [] }, stamp);
  t.equal(cache.get('d'), undefined, 'one eviction of more ids than it keeps in all is still kept, and names it');
  stamp = cache.stamp();
  source.notify('f', ['o1']);
  cache.set('d', { owner: 'o5', posts: [] }, stamp);
  t.ok(cache.get('d'), 'a read that raced another id is stored');
});

t.test('an entry tagged by ids that other entries share leaves the others alone', async (t) => {
  const { source, cache, put } = setup();
  put('a', { owner: 'a', posts: ['p1', 'p2'] });
  put('b', { owner: 'b', posts: ['p1'] });
  put('c', { owner: 'c', posts: ['p1', 'p3'] });
  put('a', { owner: 'a', posts: ['p2'] });
  source.notify('p', ['p1']);
  t.ok(cache.get('a'), 'replaced by a page without p1');
  t.equal(cache.get('b'), undefined);
  t.equal(cache.get('c'), undefined);
  source.notify('p', ['p3']);
  source.notify('p', ['p2']);
  t.equal(cache.get('a'), undefined);
  t.equal(cache.size, 0);
});

t.test('entries expire after ttlMs', async (t) => {
  const { cache, put, advance } = setup({ ttlMs: 1000 });
  put('a', { owner: 'a', posts: [] });
  advance(999);
  t.ok(cache.get('a'));
  advance(1);
  t.equal(cache.get('a'), undefined);
  t.equal(cache.size, 0, 'and are dropped');
});

t.test('the size bound drops the oldest entry first', async (t) => {
  const { cache, put } = setup({ maxEntries: 2 });
  put('a', { owner: 'a', posts: ['p1'] });
  put('b', { owner: 'b', posts: ['p1'] });
  put('c', { owner: 'c', posts: ['p1'] });
  t.equal(cache.get('a'), undefined);
  t.ok(cache.get('b'));
  t.ok(cache.get('c'));
  t.equal(cache.size, 2);
});

t.test('nothing is served or stored while the source is not fresh or the cache not usable; those lookups count as bypassed', async (t) => {
  let usable = true;
  const { source, cache, counts, put } = setup({ usable: () => usable });
  put('a', { owner: 'a', posts: [] });
  usable = false;
  t.equal(cache.get('a'), undefined, 'not served');
  put('b', { owner: 'b', posts: [] });
  t.same(counts, { hit: 0, miss: 0, bypassed: 1 }, 'held, but bypassed: not a miss');
  usable = true;
  t.ok(cache.get('a'), 'served again once usable');
  t.equal(cache.get('b'), undefined, 'not stored meanwhile');
  t.same(counts, { hit: 1, miss: 1, bypassed: 1 });
  source.fresh = false;
  t.equal(cache.get('a'), undefined);
  t.equal(cache.get('b'), undefined);
  t.same(counts, { hit: 1, miss: 1, bypassed: 3 }, 'not fresh: bypassed, whether held or not');
});

t.test('maxEntries 0 turns it off; its lookups count as misses, not bypasses', async (t) => {
  const { source, cache, counts, put } = setup({ maxEntries: 0 });
  put('a', { owner: 'a', posts: [] });
  t.equal(cache.get('a'), undefined);
  t.equal(cache.size, 0);
  source.fresh = false;
  t.equal(cache.get('a'), undefined);
  t.same(counts, { hit: 0, miss: 2, bypassed: 0 });
});

t.test('maxWeight 0 turns the cache off', async (t) => {
  const { cache, put } = setup({ maxWeight: 0 });
  put('a', { owner: 'a', posts: [] });
  t.equal(cache.get('a'), undefined);
  t.equal(cache.size, 0);
});

t.test('the weight bound drops the oldest entries until the new one fits, and refuses one heavier than the bound', async (t) => {
  const { source, cache, put } = setup({ maxWeight: 5 });
  put('a', { owner: 'a', posts: ['1', '2'] });
  put('b', { owner: 'b', posts: ['3', '4'] });
  t.equal(cache.weight, 4);
  put('c', { owner: 'c', posts: ['5'] });
  t.ok(cache.get('a'), 'a fit: nothing dropped');
  t.equal(cache.weight, 5);
  put('c', { owner: 'c', posts: ['5', '6', '7', '8'] });
  t.equal(cache.get('a'), undefined, 'the oldest went');
  t.equal(cache.get('b'), undefined, 'and the next, for the new one to fit');
  t.ok(cache.get('c'));
  t.equal(cache.weight, 4);
  put('c', { owner: 'c', posts: ['5'] });
  t.equal(cache.weight, 1, 'a replaced entry weighs as the new one');
  put('heavy', { owner: 'h', posts: ['1', '2', '3', '4', '5', '6'] });
  t.equal(cache.get('heavy'), undefined, 'heavier than the bound: not stored');
  t.ok(cache.get('c'), 'and nothing dropped for it');
  source.notify('p', ['5']);
  t.equal(cache.weight, 0, 'an eviction gives its weight back');
  put('d', { owner: 'd', posts: ['8'] });
  cache.clear();
  t.equal(cache.weight, 0, 'and so does a reset');
});
