// InvalidatedCache (src/services/cache.ts) on a fake invalidation source the test drives:
// hits and misses, eviction by notification, resets, the size bound, freshness, and reads that
// race an eviction. No server, no database.
import t from 'tap';
import { InvalidatedCache, noCaching, type CacheObserver } from '../src/services/cache.ts';
import { FakeSource } from './helpers/fake-invalidations.ts';

interface Account {
  id: string;
  handle: string;
}

function setup(maxEntries = 10, idOf?: (value: Account, key: string) => string) {
  const source = new FakeSource();
  const counts: Record<string, number> = {};
  const observe: CacheObserver = (cache, outcome, count) => {
    counts[`${cache}:${outcome}`] = (counts[`${cache}:${outcome}`] ?? 0) + count;
  };
  const cache = new InvalidatedCache<Account>({ source, maxEntries, observe }, { name: 'accounts', topic: 'account', ...(idOf ? { idOf } : {}) });
  const put = (key: string, value: Account) => cache.set(key, value, cache.stamp());
  return { source, cache, counts, put };
}

const alice = { id: 'a1', handle: 'alice' };
const bob = { id: 'b2', handle: 'bob' };
const carol = { id: 'c3', handle: 'carol' };

t.test('a stored value is served, and every lookup counts as a hit or a miss', async (t) => {
  const { cache, counts, put } = setup();
  t.equal(cache.get('a1'), undefined);
  t.same(counts, { 'accounts:miss': 1 });
  put('a1', alice);
  t.equal(cache.get('a1'), alice);
  t.equal(cache.get('a1'), alice);
  t.equal(cache.get('b2'), undefined);
  t.same(counts, { 'accounts:miss': 2, 'accounts:hit': 2 });
  t.equal(cache.size, 1);
});

t.test('getMany splits keys into found and missing, counting each outcome once per call', async (t) => {
  const { cache, counts, put } = setup();
  put('a1', alice);
  put('b2', bob);
  const { found, missing } = cache.getMany(['a1', 'x9', 'b2', 'y8']);
  t.same([...found], [['a1', alice], ['b2', bob]]);
  t.same(missing, ['x9', 'y8']);
  t.same(counts, { 'accounts:hit': 2, 'accounts:miss': 2 });
  t.same(cache.getMany([]), { found: new Map(), missing: [] });
  t.same(counts, { 'accounts:hit': 2, 'accounts:miss': 2 }, 'an empty lookup counts nothing');
});

t.test('a notification on its topic evicts the entries it names, and only those', async (t) => {
  const { source, cache, put } = setup();
  put('a1', alice);
  put('b2', bob);
  put('c3', carol);
  source.notify('channel', ['a1']);
  t.equal(cache.get('a1'), alice, 'another topic evicts nothing');
  source.notify('account', ['a1', 'c3', 'zz']);
  t.equal(cache.get('a1'), undefined);
  t.equal(cache.get('b2'), bob);
  t.equal(cache.get('c3'), undefined);
  t.equal(cache.size, 1);
});

t.test('with idOf, a notification naming the id evicts the entry stored under another key', async (t) => {
  const { source, cache, put } = setup(10, (value) => value.id);
  put('alice', alice);
  put('bob', bob);
  source.notify('account', ['a1']);
  t.equal(cache.get('alice'), undefined, 'evicted by its id');
  t.equal(cache.get('bob'), bob);
  put('alice', alice);
  t.equal(cache.get('alice'), alice, 'stored again after the eviction');
});

t.test('evictWhere removes the entries a predicate picks', async (t) => {
  const { cache, put } = setup();
  put('a1', alice);
  put('b2', bob);
  put('c3', carol);
  cache.evictWhere((v) => v.handle.startsWith('a') || v.handle.startsWith('c'));
  t.same(cache.getMany(['a1', 'b2', 'c3']).missing, ['a1', 'c3']);
});

t.test('a reset of the source (notifications may be lost) empties the cache', async (t) => {
  const { source, cache, put } = setup(10, (value) => value.id);
  put('alice', alice);
  put('bob', bob);
  source.reset();
  t.equal(cache.size, 0);
  t.equal(cache.get('alice'), undefined);
  put('alice', alice);
  t.equal(cache.get('alice'), alice, 'fills again afterwards');
  cache.clear();
  t.equal(cache.size, 0);
  put('alice', carol);
  source.notify('account', ['a1']);
  t.equal(cache.get('alice'), carol, 'the ids of the entries cleared are forgotten too');
});

t.test('the cache holds at most maxEntries, dropping the oldest stored first', async (t) => {
  const { cache, put } = setup(2);
  put('a1', alice);
  put('b2', bob);
  put('a1', { ...alice, handle: 'alice2' });
  t.equal(cache.size, 2, 'replacing a key does not drop another');
  put('c3', carol);
  t.equal(cache.size, 2);
  t.equal(cache.get('a1'), undefined, 'the oldest is gone');
  t.equal(cache.get('b2'), bob);
  t.equal(cache.get('c3'), carol);
});

t.test("a cache's own maxEntries bounds it below Caching's; 0 turns it off; above Caching's, Caching's holds", async (t) => {
  const source = new FakeSource();
  const sized = (own: number) => new InvalidatedCache<Account>({ source, maxEntries: 3 }, { name: 'accounts', topic: 'account', maxEntries: own });
  for (const [own, kept] of [[2, 2], [0, 0], [10, 3]] as const) {
    const cache = sized(own);
    for (const [key, value] of [['a1', alice], ['b2', bob], ['c3', carol], ['d4', { ...alice, id: 'd4' }]] as const) cache.set(key, value, cache.stamp());
    t.equal(cache.size, kept, `its own ${own}, Caching's 3: ${kept} kept`);
  }
});

t.test('with weightOf, the cache holds at most maxWeight, dropping the oldest stored first', async (t) => {
  const source = new FakeSource();
  // A handle's length is its weight: at most 10.
  const cache = new InvalidatedCache<Account>(
    { source, maxEntries: 100 },
    { name: 'accounts', topic: 'account', idOf: (value) => value.id, weightOf: (value) => value.handle.length, maxWeight: 10 },
  );
  const put = (key: string, value: Account) => cache.set(key, value, cache.stamp());
  put('a', alice); // 5
  put('b', bob); // 3
  t.equal(cache.weight, 8);
  put('c', carol); // 5: alice goes
  t.same([cache.get('a'), cache.get('b'), cache.get('c')], [undefined, bob, carol]);
  t.equal(cache.weight, 8);
  put('b', { id: 'b2', handle: 'bobby' }); // replaced in its place: 5 + 5
  t.equal(cache.weight, 10, 'a replaced value counts its own weight, not both');
  t.equal(cache.size, 2);
  put('d', { id: 'd4', handle: 'dan' }); // 3: the oldest (b) goes, carol stays
  t.same([cache.get('b'), cache.get('c')?.handle, cache.get('d')?.handle], [undefined, 'carol', 'dan']);
  t.equal(cache.weight, 8);
  put('e', { id: 'e5', handle: 'a handle too long' });
  t.equal(cache.get('e'), undefined, 'a value heavier than the bound is not kept');
  t.equal(cache.weight, 8, 'and drops nothing');
  put('c', { id: 'c3', handle: 'carol with a long handle' });
  t.equal(cache.get('c'), undefined, 'a key given a value too heavy to keep drops its old value');
  t.equal(cache.weight, 3);
  source.notify('account', ['d4']);
  t.equal(cache.weight, 0, 'an eviction takes its weight away');
  put('a', alice);
  source.reset();
  t.equal(cache.weight, 0, 'so does a reset');
});

t.test('maxWeight 0 turns the cache off', async (t) => {
  const cache = new InvalidatedCache<Account>({ source: new FakeSource(), maxEntries: 100 }, { name: 'accounts', topic: 'account', weightOf: () => 1, maxWeight: 0 });
  cache.set('a1', alice, cache.stamp());
  t.equal(cache.get('a1'), undefined);
  t.equal(cache.size, 0);
});

t.test('a dropped entry leaves no id behind to evict what its key holds later', async (t) => {
  const { source, cache, put } = setup(1, (value) => value.id);
  put('me', alice);
  put('other', bob);
  t.equal(cache.get('me'), undefined, 'me was dropped for other');
  put('me', carol);
  t.equal(cache.get('other'), undefined, 'other was dropped for me');
  source.notify('account', ['a1', 'b2']);
  t.equal(cache.get('me'), carol, 'a1 and b2 name no entry now');
  source.notify('account', ['c3']);
  t.equal(cache.get('me'), undefined);
});

t.test('maxEntries 0 turns the cache off (its lookups count as misses, fresh or not); so does noCaching', async (t) => {
  const { source, cache, counts, put } = setup(0);
  put('a1', alice);
  t.equal(cache.size, 0);
  t.equal(cache.get('a1'), undefined);
  source.fresh = false;
  t.equal(cache.get('a1'), undefined);
  t.same(cache.getMany(['a1', 'b2']).missing, ['a1', 'b2']);
  t.same(counts, { 'accounts:miss': 4 });
  const off = new InvalidatedCache<Account>(noCaching, { name: 'off', topic: 'account' });
  off.set('a1', alice, off.stamp());
  t.equal(off.get('a1'), undefined);
  t.equal(off.size, 0);
});

t.test('while the source is not fresh nothing is served or stored, and lookups count as bypassed', async (t) => {
  const { source, cache, counts, put } = setup();
  put('a1', alice);
  source.fresh = false;
  t.equal(cache.get('a1'), undefined, 'held, but not served');
  t.same(cache.getMany(['a1', 'b2']).missing, ['a1', 'b2']);
  put('b2', bob);
  t.equal(cache.size, 1, 'not stored');
  t.same(counts, { 'accounts:bypassed': 3 }, 'bypassed, not missed: the cache was not looked at');
  source.fresh = true;
  t.equal(cache.get('a1'), alice, 'served again once fresh');
  t.equal(cache.get('b2'), undefined);
  t.same(counts, { 'accounts:bypassed': 3, 'accounts:hit': 1, 'accounts:miss': 1 });
});

t.test('a read that started before an eviction does not store its result', async (t) => {
  const { source, cache } = setup();
  const before = cache.stamp();
  source.notify('account', ['a1']);
  cache.set('a1', alice, before);
  t.equal(cache.get('a1'), undefined, 'its value may predate the change');
  t.equal(cache.size, 0);
  const after = cache.stamp();
  cache.set('a1', alice, after);
  t.equal(cache.get('a1'), alice, 'a read started after it does');
});

t.test('any eviction, reset or clear invalidates reads in flight, even of other keys', async (t) => {
  const { source, cache } = setup();
  const interruptions: [string, () => void][] = [
    ['an eviction of another id', () => source.notify('account', ['zz'])],
    ['a direct evict', () => cache.evict([])],
    ['evictWhere', () => cache.evictWhere(() => false)],
    ['a reset', () => source.reset()],
    ['clear', () => cache.clear()],
  ];
  for (const [why, interrupt] of interruptions) {
    const stamp = cache.stamp();
    interrupt();
    cache.set('b2', bob, stamp);
    t.equal(cache.get('b2'), undefined, why);
  }
  const stamp = cache.stamp();
  source.notify('channel', ['b2']);
  cache.set('b2', bob, stamp);
  t.equal(cache.get('b2'), bob, 'a notification of another topic is no eviction here');
});

t.test('two reads racing: the slow one that began before an eviction cannot put back the removed value', async (t) => {
  const { source, cache } = setup();
  const stored = { ...alice, handle: 'old' };
  // A slow read begins, a change commits and is announced, a fresh read stores the new value,
  // then the slow read ends with the old value.
  const slow = cache.stamp();
  source.notify('account', ['a1']);
  const fresh = cache.stamp();
  cache.set('a1', { ...alice, handle: 'new' }, fresh);
  cache.set('a1', stored, slow);
  t.equal(cache.get('a1')?.handle, 'new');
});

t.test('add stores only what is not held, under the same stamp rule as set, and counts no lookup', async (t) => {
  const { source, cache, counts } = setup(2);
  const first = { ...alice };
  cache.add('a1', first, cache.stamp());
  t.equal(cache.size, 1, 'stored when nothing was held');
  cache.add('a1', { ...alice }, cache.stamp());
  t.equal(cache.get('a1'), first, 'the entry held stays: the same object, not a copy read later');
  t.same(counts, { 'accounts:hit': 1 }, 'add looked nothing up that counts');
  const stamp = cache.stamp();
  source.notify('account', ['zz']);
  cache.add('b2', bob, stamp);
  t.equal(cache.size, 1, 'a read stamped before an eviction stores nothing');
  source.notify('account', ['a1']);
  cache.add('a1', { ...alice, handle: 'new' }, cache.stamp());
  t.equal(cache.get('a1')?.handle, 'new', 'once evicted, the next read is stored');
  cache.add('b2', bob, cache.stamp());
  cache.add('c3', carol, cache.stamp());
  t.equal(cache.size, 2, 'the count bound holds');
  t.equal(cache.get('a1'), undefined, 'the oldest went');
});
