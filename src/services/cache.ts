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
}

/** Caching off: nothing is ever served from a cache. */
export const noInvalidations: InvalidationSource = { fresh: false, on() {}, onReset() {}, sync: async () => false };

/** How a domain's caches are made. */
export interface Caching {
  source: InvalidationSource;
  /** The most entries each cache holds; 0 turns caching off. */
  maxEntries: number;
  observe?: CacheObserver;
}

export const noCaching: Caching = { source: noInvalidations, maxEntries: 0 };

/** Hits and misses, for metrics: `count` lookups with that outcome. */
export type CacheObserver = (cache: string, outcome: 'hit' | 'miss', count: number) => void;

/** What differs between caches; their source, size and observer come from `Caching`. */
export interface CacheOptions<V> {
  /** The `cache` label of its metrics. */
  name: string;
  /** The notification topic whose ids evict entries. */
  topic: string;
  /** The id a notification names for an entry (defaults to its key). */
  idOf?: (value: V, key: string) => string;
}

export class InvalidatedCache<V> {
  readonly #name: string;
  readonly #source: InvalidationSource;
  readonly #idOf: (value: V, key: string) => string;
  readonly #maxEntries: number;
  readonly #observe: CacheObserver | undefined;
  readonly #entries = new Map<string, V>();
  /** Keys by notification id, when they differ. */
  readonly #keysById = new Map<string, string>();
  /** Changes at every eviction and reset: a read stamped before it must not be stored. */
  #epoch = 0;

  constructor(caching: Caching, options: CacheOptions<V>) {
    this.#name = options.name;
    this.#source = caching.source;
    this.#idOf = options.idOf ?? ((_, key) => key);
    this.#maxEntries = caching.maxEntries;
    this.#observe = caching.observe;
    caching.source.on(options.topic, (ids) => this.evict(ids));
    caching.source.onReset(() => this.clear());
  }

  get size(): number {
    return this.#entries.size;
  }

  get #enabled(): boolean {
    return this.#maxEntries > 0 && this.#source.fresh;
  }

  /** The cached value, if the cache may serve one. Counts a hit or a miss. */
  get(key: string): V | undefined {
    const value = this.#enabled ? this.#entries.get(key) : undefined;
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
    if (missing.length > 0) this.#observe?.(this.#name, 'miss', missing.length);
    return { found, missing };
  }

  /** Taken before reading the database; `set` stores the result only if nothing was evicted since. */
  stamp(): number {
    return this.#epoch;
  }

  set(key: string, value: V, stamp: number): void {
    if (!this.#enabled || stamp !== this.#epoch) return;
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) {
      // Oldest first: Map iterates in insertion order.
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest);
    }
    this.#entries.set(key, value);
    const id = this.#idOf(value, key);
    if (id !== key) this.#keysById.set(id, key);
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
  }

  #remove(key: string): void {
    const value = this.#entries.get(key);
    if (value === undefined) return;
    this.#entries.delete(key);
    const id = this.#idOf(value, key);
    if (id !== key) this.#keysById.delete(id);
  }
}
