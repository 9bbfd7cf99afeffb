// What the posts domain keeps in memory, evicted by PostgreSQL's notifications
// (Migration20261203120000) and, for this instance's own writes, at once:
// - posts read by id (GET /posts/{id}, POST_CACHE_MB): only the row; the author (the accounts
//   domain's cache) and a channel post's access (the channels domain's) are asked at every read;
// - pages of channels' posts read by cursor (CHANNEL_PAGE_CACHE_MB), as read, with their next
//   cursor: a page served is the page the database would give. Pages by number (`page=N`) are
//   not kept: a deletion before one shifts it without naming any of its rows.
// Topics: "o:<post ids>" (edited or deleted), "oc:<channel ids>" (the channel's list gained rows),
// "o!:" (the table was truncated: everything goes).
import type { PostRow } from '../../persistence/posts/index.ts';
import { stringBytes, TaggedCache, type Caching, type Tag } from '../cache.ts';
import type { Page } from '../pagination.ts';

/**
 * What a kept post costs in memory, estimated from above: its text (`stringBytes`) and 700 bytes
 * for the row's object, its ids and dates, and the cache's own entry and index (measured: about
 * 600 for a post of one character, 720 for one of 100).
 */
export function keptPostBytes(row: PostRow): number {
  return 700 + stringBytes(row.text);
}

/** An entry is served for this long at most: a last resort, since every change notifies. */
const KEPT_MS = 10 * 60_000;

/** A page of a channel's posts as read: the rows (one more than the page, to tell whether there is a next) and the page made of them. */
interface KeptPage {
  channelId: string;
  read: PostRow[];
  page: Page<PostRow>;
}

/** Which page of a channel's posts a request reads; undefined for a page by number, which is not kept. */
export interface ChannelPageRequest {
  channelId: string;
  limit: number;
  newestFirst: boolean;
  cursor?: string | undefined;
  page?: number | undefined;
  between?: string | undefined;
  tz?: string | undefined;
}

export class KeptPosts {
  readonly #posts: TaggedCache<PostRow>;
  readonly #channelPages: TaggedCache<KeptPage>;

  constructor(caching: Caching, settings: { cacheBytes: number; channelPageCacheBytes: number }) {
    this.#posts = new TaggedCache(caching, {
      name: 'posts',
      topics: ['o'],
      resetTopics: ['o!'],
      tagsOf: (row) => [['o', row.id]],
      maxEntries: caching.maxEntries,
      ttlMs: KEPT_MS,
      weightOf: keptPostBytes,
      maxWeight: settings.cacheBytes,
    });
    this.#channelPages = new TaggedCache(caching, {
      name: 'channel_pages',
      topics: ['o', 'oc'],
      resetTopics: ['o!'],
      tagsOf: function* (kept): Iterable<Tag> {
        yield ['oc', kept.channelId];
        for (const row of kept.read) yield ['o', row.id];
      },
      maxEntries: caching.maxEntries,
      ttlMs: KEPT_MS,
      weightOf: (kept) => 200 + kept.read.reduce((bytes, row) => bytes + keptPostBytes(row), 0),
      maxWeight: settings.channelPageCacheBytes,
    });
  }

  /** The post `postId`, kept or read by `read` (and kept, if it exists). */
  async post(postId: string, read: () => Promise<PostRow | null>): Promise<PostRow | null> {
    const kept = this.#posts.get(postId);
    if (kept) return kept;
    const stamp = this.#posts.stamp();
    const row = await read();
    if (row) this.#posts.set(postId, row, stamp);
    return row;
  }

  /** The page `request` asks for, kept or made by `read` from the rows it reads (and kept, unless a page by number). */
  async channelPage(request: ChannelPageRequest, read: () => Promise<{ read: PostRow[]; page: Page<PostRow> }>): Promise<Page<PostRow>> {
    const { channelId, limit, newestFirst, cursor, page, between, tz } = request;
    const key = page === undefined ? `${channelId} ${limit} ${newestFirst} ${cursor ?? ''} ${between ?? ''} ${tz ?? ''}` : undefined;
    const kept = key === undefined ? undefined : this.#channelPages.get(key);
    if (kept) return kept.page;
    const stamp = this.#channelPages.stamp();
    const fresh = await read();
    if (key !== undefined) this.#channelPages.set(key, { channelId, ...fresh }, stamp);
    return fresh.page;
  }

  /** This instance published `row`: its channel's pages go (nothing can have kept the post itself). */
  published(row: PostRow): void {
    if (row.channelId !== null) this.#channelPages.evict('oc', [row.channelId]);
  }

  /**
   * This instance edited or deleted the post, or found it at another version than a write
   * expected, or gone (a change whose notification has not come, or never will): every copy of
   * it goes, so that the client's next read agrees with the answer.
   */
  forget(postId: string): void {
    this.#posts.evict('o', [postId]);
    this.#channelPages.evict('o', [postId]);
  }
}
