// What the posts domain hands to its callers.
import type { AccountSummary } from '../accounts/index.ts';

export interface Post {
  id: string;
  authorId: string;
  author: AccountSummary;
  /** Null for a general post. */
  channelId: string | null;
  text: string;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

/**
 * A post of `row` by `author`, its fields named one by one. A page makes one per item: built as
 * `{ ...row, author }` they cost an account's page 12.8 µs of CPU, built so 4.4 µs (bench/README.md,
 * "A page's items built field by field"). Only the contract's fields are copied.
 */
export function postBy(row: Omit<Post, 'author'>, author: AccountSummary): Post {
  return {
    id: row.id,
    authorId: row.authorId,
    author,
    channelId: row.channelId,
    text: row.text,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    version: row.version,
  };
}

export interface NewPost {
  text: string;
}

export interface PostPatch {
  text?: string;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
  page?: number;
}

export interface ListPostsRequest extends PageRequest {
  newestFirst: boolean;
  /** `YYYY-MM-DD_YYYY-MM-DD`, half-open. */
  between?: string;
  /** IANA time zone in which `between`'s days start; UTC when undefined. */
  tz?: string;
}

export interface PostsSettings {
  maxPage: number;
  /** POST_CACHE_MB in bytes: what the posts kept in memory may weigh (see `keptPostBytes`); 0: none. */
  cacheBytes: number;
  /** CHANNEL_PAGE_CACHE_MB in bytes: what the channel pages kept in memory may weigh; 0: none. */
  channelPageCacheBytes: number;
}
