// Version 2 of the posts family (openapi-v2.yaml), on the same services as version 1. What
// differs is only how posts and lists look on the wire: a list links its next page (`next`,
// with the request's filters kept) instead of handing out a bare cursor, page numbers are gone,
// and a post no longer repeats its author's id beside `author`.
import type { operations, components } from '../../../generated/api-v2.d.ts';
import type { Post } from '../../services/posts/index.ts';
import type { PostsService } from '../../services/posts/index.ts';
import { signedIn } from '../../services/accounts/index.ts';
import { DEFAULT_LIMIT } from '../paging.ts';
import { etag } from '../conditional.ts';
import type { HandlersOf } from '../operations.ts';
import { V2_PREFIX } from '../versions.ts';
import { accountSummaryView, postTimes } from '../views.ts';

export type HandlersV2 = HandlersOf<operations>;
type Schemas = components['schemas'];

export function postViewV2(post: Post): Schemas['Post'] {
  const { createdAt, updatedAt } = postTimes(post);
  return {
    id: post.id,
    author: accountSummaryView(post.author),
    channelId: post.channelId,
    text: post.text,
    createdAt,
    updatedAt,
    version: post.version,
  };
}

/**
 * The next page's path and query: the request's own query parameters (filters, sort, limit)
 * in the order they came, with the cursor of the next page in place of the current one.
 */
export function nextLink(path: string, query: Record<string, unknown>, nextCursor: string | null): string | null {
  if (nextCursor === null) return null;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (name !== 'cursor' && value !== undefined) params.set(name, String(value));
  }
  params.set('cursor', nextCursor);
  return `${V2_PREFIX}${path}?${params}`;
}

function listing(query: { limit?: number; cursor?: string; sort?: 'createdAt' | '-createdAt' }) {
  return { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor, newestFirst: (query.sort ?? '-createdAt') === '-createdAt' };
}

const location = (post: Post) => `${V2_PREFIX}/posts/${post.id}`;

/**
 * Every operation of openapi-v2.yaml but the feed (served by the timelines domain, see
 * ../timelines.ts); OPTIONS uses the permission functions of version 1 (one per path, both versions).
 */
export function postsHandlersV2(posts: PostsService): Omit<HandlersV2, 'allowedMethods' | 'getFeed'> {
  return {
    async createPost({ body, caller, unitOfWork }) {
      const post = await posts.publish(signedIn(caller), body, unitOfWork);
      return { status: 201, body: postViewV2(post), headers: { location: location(post), etag: etag(post.version) } };
    },

    async getPost({ path, caller }) {
      const post = await posts.get(caller, path.postId);
      return { status: 200, body: postViewV2(post), headers: { etag: etag(post.version) } };
    },

    async updatePost({ path, expectedVersion, body, caller }) {
      const post = await posts.edit(signedIn(caller), path.postId, expectedVersion, body);
      return { status: 200, body: postViewV2(post), headers: { etag: etag(post.version) } };
    },

    async deletePost({ path, expectedVersion, caller }) {
      await posts.remove(signedIn(caller), path.postId, expectedVersion);
      return { status: 204 };
    },

    async listAccountPosts({ path, query }) {
      const page = await 
        posts.listByAuthor(path.accountId, { ...listing(query), between: query.between, tz: query.tz });
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink(`/accounts/${path.accountId}/posts`, query, page.nextCursor) } };
    },

    async createChannelPost({ path, body, caller, unitOfWork }) {
      const post = await posts.publishInChannel(signedIn(caller), path.channelId, body, unitOfWork);
      return { status: 201, body: postViewV2(post), headers: { location: location(post), etag: etag(post.version) } };
    },

    async listChannelPosts({ path, query, caller }) {
      const page = await 
        posts.listInChannel(caller, path.channelId, { ...listing(query), between: query.between, tz: query.tz });
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink(`/channels/${path.channelId}/posts`, query, page.nextCursor) } };
    },
  };
}
