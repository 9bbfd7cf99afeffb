// Caches of what other instances may change: an entry is served only while the invalidation
// source is fresh (every change committed longer ago than the staleness bound is known to have
// been applied here), evicted when PostgreSQL announces that its row changed (see
// src/persistence/invalidations.ts and watermark.ts), and the whole cache is emptied whenever
// notifications may have been missed. A read that started before an eviction never stores its result, so a
// slow read cannot put back what a concurrent change removed.

/** Where invalidations come from (the persistence layer's listener, or nothing). */
export interface InvalidationSource {
  /**
   * True while every invalidation committed more than the staleness bound ago is known to have
   * been applied here: only then may a cache serve what it holds.
   */
  readonly fresh: boolean;
  on(topic: string, listener: (ids: string[]) => void): void;
  onReset(listener: () => void): void;
  /**
   * Resolves once this instance has received every invalidation committed before the call:
   * after a change, so that the change is in effect on this instance when it answers (other
   * instances apply it within the staleness bound). False if it could not tell.
   */
  sync(timeoutMs?: number): Promise<boolean>;
  /**
   * How far the database's clock is ahead of this instance's (ms; negative: behind), as last
   * measured; undefined until measured. For times that notifications carry from the database.
   */
  readonly clockOffsetMs?: number | undefined;
}

/** Caching off: nothing is ever served from a cache. */
export const noInvalidations: InvalidationSource = { fresh: false, on() {}, onReset() {}, sync: async () => false };

/** How a domain's caches are made. */
export interface Caching {
  source: InvalidationSource;
  /** The most entries each cache holds; 0 turns caching off. */
  maxEntries: number;
  observe?: CacheObserver;
  /** Told of each cache made, with what it holds now (read at every metrics scrape). */
  watch?: CacheWatcher;
}

export const noCaching: Caching = { source: noInvalidations, maxEntries: 0 };

/**
 * A lookup's outcome: served (`hit`), not held (`miss`), or not looked at because the cache may
 * not serve now (`bypassed`: this instance cannot show that it has applied every invalidation
 * within the staleness bound, or, for a cache with a `usable` check, that check says no). A cache
 * turned off by its settings counts misses.
 */
export type CacheOutcome = 'hit' | 'miss' | 'bypassed';

/**
 * What a lookup counts as when its cache may not serve: `bypassed` for a cache that holds entries
 * when it can, `miss` for one its settings turned off (`maxEntries` 0).
 */
function unserved(maxEntries: number): CacheOutcome {
  return maxEntries > 0 ? 'bypassed' : 'miss';
}

/** Lookups by outcome, for metrics: `count` lookups with that outcome. */
export type CacheObserver = (cache: string, outcome: CacheOutcome, count: number) => void;

/**
 * What a cache holds: its entries and, for a cache bounded by weight, their estimated bytes
 * (undefined for the others).
 */
export interface CacheContents {
  entries: number;
  weight: number | undefined;
}

export type CacheWatcher = (cache: string, contents: () => CacheContents) => void;

const BEYOND_LATIN1 = /[^\u0000-\u00ff]/;

/**
 * What a string kept in a cache takes on the heap, estimated from above: V8 stores a string of
 * Latin-1 characters a byte a character, any other two bytes a character; 5 % more covers the
 * heap's own accounting (test/unit-cache-weights.test.ts measures the caches' estimates).
 */
export function stringBytes(text: string): number {
  return Math.ceil((BEYOND_LATIN1.test(text) ? 2.1 : 1.05) * text.length);
}

/** What differs between caches; their source, size and observer come from `Caching`. */
export interface CacheOptions<V> {
  /** The `cache` label of its metrics. */
  name: string;
  /** The notification topic whose ids evict entries. */
  topic: string;
  /** The id a notification names for an entry (defaults to its key). */
  idOf?: (value: V, key: string) => string;
  /**
   * What an entry weighs (an estimate of its bytes), for entries whose size varies widely: the
   * oldest are dropped while the entries' total weight is over `maxWeight`, and an entry that
   * weighs more than `maxWeight` is not kept. A `maxWeight` of 0 turns the cache off.
   */
  weightOf?: (value: V) => number;
  maxWeight?: number;
  /** The most entries this cache holds, below `Caching.maxEntries` (its own setting); 0 turns it off. */
  maxEntries?: number;
}

export class InvalidatedCache<V> {
  readonly #name: string;
  readonly #source: InvalidationSource;
  readonly #idOf: (value: V, key: string) => string;
  readonly #maxEntries: number;
  readonly #observe: CacheObserver | undefined;
  readonly #weightOf: ((value: V) => number) | undefined;
  readonly #maxWeight: number;
  #weight = 0;
  readonly #entries = new Map<string, V>();
  /** Keys by notification id, when they differ. */
  readonly #keysById = new Map<string, string>();
  /** Changes at every eviction and reset: a read stamped before it must not be stored. */
  #epoch = 0;

  constructor(caching: Caching, options: CacheOptions<V>) {
    this.#name = options.name;
    this.#source = caching.source;
    this.#idOf = options.idOf ?? ((_, key) => key);
    this.#maxEntries = options.maxWeight === 0 ? 0 : Math.min(caching.maxEntries, options.maxEntries ?? Number.POSITIVE_INFINITY);
    this.#observe = caching.observe;
    this.#weightOf = options.weightOf;
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    caching.watch?.(this.#name, () => ({ entries: this.size, weight: this.#weightOf ? this.#weight : undefined }));
    caching.source.on(options.topic, (ids) => this.evict(ids));
    caching.source.onReset(() => this.clear());
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entries' total weight (0 without `weightOf`). */
  get weight(): number {
    return this.#weight;
  }

  get #enabled(): boolean {
    return this.#maxEntries > 0 && this.#source.fresh;
  }

  /** The cached value, if the cache may serve one. Counts a hit, a miss or a bypass. */
  get(key: string): V | undefined {
    if (!this.#enabled) {
      this.#observe?.(this.#name, unserved(this.#maxEntries), 1);
      return undefined;
    }
    const value = this.#entries.get(key);
    this.#observe?.(this.#name, value === undefined ? 'miss' : 'hit', 1);
    return value;
  }

  /** The cached values of `keys` and the keys it has none for; counted once per call, not per key. */
  getMany(keys: Iterable<string>): { found: Map<string, V>; missing: string[] } {
    const found = new Map<string, V>();
    const missing: string[] = [];
    const enabled = this.#enabled;
    for (const key of keys) {
      const value = enabled ? this.#entries.get(key) : undefined;
      if (value === undefined) missing.push(key);
      else found.set(key, value);
    }
    if (found.size > 0) this.#observe?.(this.#name, 'hit', found.size);
    if (missing.length > 0) this.#observe?.(this.#name, enabled ? 'miss' : unserved(this.#maxEntries), missing.length);
    return { found, missing };
  }

  /** Taken before reading the database; `set` stores the result only if nothing was evicted since. */
  stamp(): number {
    return this.#epoch;
  }

  set(key: string, value: V, stamp: number): void {
    if (!this.#enabled || stamp !== this.#epoch) return;
    const weight = this.#weightOf?.(value) ?? 0;
    if (weight > this.#maxWeight) return this.#remove(key);
    // A value replaced keeps its key's place; its weight and id go.
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      this.#weight -= this.#weightOf?.(previous) ?? 0;
      const id = this.#idOf(previous, key);
      if (id !== key) this.#keysById.delete(id);
    }
    // Others go, oldest first (Map iterates in insertion order), while a new key would exceed
    // the count or the value the weight.
    const oldestFirst = this.#entries.keys();
    while ((previous === undefined && this.#entries.size >= this.#maxEntries) || this.#weight + weight > this.#maxWeight) {
      const next = oldestFirst.next();
      if (next.done) break;
      if (next.value !== key) this.#remove(next.value);
    }
    this.#entries.set(key, value);
    this.#weight += weight;
    const id = this.#idOf(value, key);
    if (id !== key) this.#keysById.set(id, key);
  }

  /**
   * Stores `value` unless an entry is held for `key`: for what a read gets beside something else,
   * without looking at the cache first. Held, that entry is as current as the read (nothing was
   * evicted since its stamp, or this stores nothing either), and replacing it at every read would
   * only make garbage of it: garbage of the old generation, where a cache's entries live.
   */
  add(key: string, value: V, stamp: number): void {
    if (this.#entries.has(key)) return;
    this.set(key, value, stamp);
  }

  /** Removes the entries notifications call `ids`. */
  evict(ids: Iterable<string>): void {
    this.#epoch++;
    for (const id of ids) this.#remove(this.#keysById.get(id) ?? id);
  }

  /** Removes every entry `matches`. */
  evictWhere(matches: (value: V) => boolean): void {
    this.#epoch++;
    for (const [key, value] of this.#entries) if (matches(value)) this.#remove(key);
  }

  clear(): void {
    this.#epoch++;
    this.#entries.clear();
    this.#keysById.clear();
    this.#weight = 0;
  }

  #remove(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    this.#weight -= this.#weightOf?.(value) ?? 0;
    const id = this.#idOf(value, key);
    if (id !== key) this.#keysById.delete(id);
  }
}

/** The evictions a `TaggedCache` remembers, to tell a read that overlapped one of them: at most this many, */
const MAX_EVICTIONS_KEPT = 256;
/** and at most this many ids in all. */
const MAX_EVICTED_IDS_KEPT = 20_000;

/** A tag of a `TaggedCache` entry: a notification on `topic` naming `id` evicts it. */
export type Tag = readonly [topic: string, id: string];

/** What differs between tagged caches (see `TaggedCache`). */
export interface TaggedCacheOptions<V> {
  /** The `cache` label of its metrics. */
  name: string;
  /** The notification topics whose ids evict entries. */
  topics: readonly string[];
  /** Topics of which any notification empties the cache (changes too wide to say which entries they touch). */
  resetTopics?: readonly string[];
  /** The tags of an entry, the same whenever asked: any notification that names one of them evicts it. */
  tagsOf: (value: V) => Iterable<Tag>;
  /** The most entries it holds (at most `Caching.maxEntries`); 0 turns it off. */
  maxEntries: number;
  /** An entry is served for this long at most after it was read (ms). */
  ttlMs: number;
  /**
   * What an entry weighs (an estimate of its bytes, say), when entries differ widely in size:
   * the oldest are dropped while the entries' total weight is over `maxWeight`. A `maxWeight` of
   * 0 turns the cache off.
   */
  weightOf?: (value: V) => number;
  maxWeight?: number;
  /** Whether entries may be served now, beside the source's freshness (true when absent). */
  usable?: () => boolean;
  now?: () => number;
}

/**
 * A cache whose entries each depend on several things: an entry carries tags, and a notification
 * (or a local `evict`) naming any of them evicts it. Served, like `InvalidatedCache`, only
 * while the invalidation source is fresh; emptied when notifications may have been missed; and
 * a read stamped before an eviction of one of its tags (or a reset) never stores its result:
 * evictions of other tags meanwhile do not stop it, so that a busy cache still fills. Entries
 * also expire (`ttlMs`), a last resort for what changes without a notification. Its index
 * holds the ids the entries already hold, not strings of its own.
 */
export class TaggedCache<V> {
  readonly #name: string;
  readonly #source: InvalidationSource;
  readonly #tagsOf: (value: V) => Iterable<Tag>;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #usable: () => boolean;
  readonly #now: () => number;
  readonly #observe: CacheObserver | undefined;
  readonly #weightOf: ((value: V) => number) | undefined;
  readonly #maxWeight: number;
  #weight = 0;
  readonly #entries = new Map<string, { value: V; storedAt: number; weight: number }>();
  /** By topic, then id: the key, or keys, of the entries tagged so. */
  readonly #index = new Map<string, Map<string, string | string[]>>();
  #epoch = 0;
  /** The latest evictions, oldest first: each one's epoch, topic and ids (null: everything). */
  readonly #evictions: { epoch: number; topic: string; ids: ReadonlySet<string> | null }[] = [];
  #evictedIds = 0;

  constructor(caching: Caching, options: TaggedCacheOptions<V>) {
    this.#name = options.name;
    this.#source = caching.source;
    this.#tagsOf = options.tagsOf;
    this.#maxEntries = options.maxWeight === 0 ? 0 : Math.min(caching.maxEntries, options.maxEntries);
    this.#ttlMs = options.ttlMs;
    this.#usable = options.usable ?? (() => true);
    this.#weightOf = options.weightOf;
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#observe = caching.observe;
    caching.watch?.(this.#name, () => ({ entries: this.size, weight: this.#weightOf ? this.#weight : undefined }));
    for (const topic of options.topics) {
      this.#index.set(topic, new Map());
      caching.source.on(topic, (ids) => this.evict(topic, ids));
    }
    for (const topic of options.resetTopics ?? []) caching.source.on(topic, () => this.clear());
    caching.source.onReset(() => this.clear());
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entries' total weight (0 without `weightOf`). */
  get weight(): number {
    return this.#weight;
  }

  get #enabled(): boolean {
    return this.#maxEntries > 0 && this.#source.fresh && this.#usable();
  }

  /** The cached value, if the cache may serve one. Counts a hit, a miss or a bypass. */
  get(key: string): V | undefined {
    if (!this.#enabled) {
      this.#observe?.(this.#name, unserved(this.#maxEntries), 1);
      return undefined;
    }
    let value: V | undefined;
    const entry = this.#entries.get(key);
    if (entry && this.#now() - entry.storedAt < this.#ttlMs) value = entry.value;
    else if (entry) this.#remove(key);
    this.#observe?.(this.#name, value === undefined ? 'miss' : 'hit', 1);
    return value;
  }

  /** Taken before reading the database; `set` stores the result only if none of its tags was evicted since. */
  stamp(): number {
    return this.#epoch;
  }

  set(key: string, value: V, stamp: number): void {
    if (!this.#enabled) return;
    if (stamp !== this.#epoch && this.#evictedSince(stamp, value)) return;
    this.#remove(key);
    const weight = this.#weightOf?.(value) ?? 0;
    if (weight > this.#maxWeight) return;
    // Oldest first: Map iterates in insertion order.
    while (this.#entries.size > 0 && (this.#entries.size >= this.#maxEntries || this.#weight + weight > this.#maxWeight)) {
      this.#remove(this.#entries.keys().next().value as string);
    }
    this.#entries.set(key, { value, storedAt: this.#now(), weight });
    this.#weight += weight;
    for (const [topic, id] of this.#tagsOf(value)) {
      const ids = this.#index.get(topic);
      if (!ids) throw new Error(`tag topic "${topic}" is not one of the cache's topics`);
      const keys = ids.get(id);
      if (keys === undefined) ids.set(id, key);
      else if (typeof keys === 'string') {
        if (keys !== key) ids.set(id, [keys, key]);
      } else if (!keys.includes(key)) keys.push(key);
    }
  }

  /** Removes the entries tagged `topic` with any of `ids`. */
  evict(topic: string, ids: Iterable<string>): void {
    const evicted = new Set(ids);
    this.#note(topic, evicted);
    const index = this.#index.get(topic);
    if (!index) return;
    for (const id of evicted) {
      const keys = index.get(id);
      if (keys === undefined) continue;
      for (const key of typeof keys === 'string' ? [keys] : [...keys]) this.#remove(key);
    }
  }

  clear(): void {
    this.#note('', null);
    this.#entries.clear();
    this.#weight = 0;
    for (const ids of this.#index.values()) ids.clear();
  }

  #note(topic: string, ids: ReadonlySet<string> | null): void {
    this.#epoch++;
    this.#evictions.push({ epoch: this.#epoch, topic, ids });
    this.#evictedIds += ids?.size ?? 0;
    while (this.#evictions.length > MAX_EVICTIONS_KEPT || (this.#evictedIds > MAX_EVICTED_IDS_KEPT && this.#evictions.length > 1)) {
      this.#evictedIds -= this.#evictions.shift()!.ids?.size ?? 0;
    }
  }

  /** Whether a tag of `value` may have been evicted since `stamp` (true when it cannot tell). */
  #evictedSince(stamp: number, value: V): boolean {
    const first = this.#evictions[0];
    if (!first || first.epoch > stamp + 1) return true;
    const since = this.#evictions.filter((e) => e.epoch > stamp);
    if (since.some((e) => e.ids === null)) return true;
    for (const [topic, id] of this.#tagsOf(value)) if (since.some((e) => e.topic === topic && e.ids!.has(id))) return true;
    return false;
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#weight -= entry.weight;
    for (const [topic, id] of this.#tagsOf(entry.value)) {
      const ids = this.#index.get(topic);
      const keys = ids?.get(id);
      if (keys === undefined) continue;
      if (typeof keys === 'string') {
        if (keys === key) ids!.delete(id);
        continue;
      }
      const at = keys.indexOf(key);
      if (at >= 0) keys.splice(at, 1);
      if (keys.length === 1) ids!.set(id, keys[0]!);
    }
  }
}
