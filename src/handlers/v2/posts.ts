// Version 2 of the posts family (openapi-v2.yaml), on the same services as version 1. What
// differs is only how posts and lists look on the wire: a list links its next page (`next`,
// with the request's filters kept) instead of handing out a bare cursor, page numbers are gone,
// and a post no longer repeats its author's id beside `author`.
import type { operations, components } from '../../../generated/api-v2.d.ts';
import type { Post } from '../../services/posts/index.ts';
import type { PostsService } from '../../services/posts/index.ts';
import { DEFAULT_LIMIT, LIST_FIELDS, signedIn } from '../caller.ts';
import { etag, expectedVersion, requireIfMatch } from '../conditional.ts';
import type { AllowedMethods } from '../allowed.ts';
import type { HandlersOf } from '../operations.ts';
import { serviceCall } from '../problem.ts';
import { accountSummaryView } from '../views.ts';

export const V2_PREFIX = '/v2';

export type HandlersV2 = HandlersOf<operations>;
type Schemas = components['schemas'];

export function postViewV2(post: Post): Schemas['Post'] {
  return {
    id: post.id,
    author: accountSummaryView(post.author),
    channelId: post.channelId,
    text: post.text,
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
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

export function postsHandlersV2(posts: PostsService, allowedMethods: AllowedMethods): HandlersV2 {
  return {
    allowedMethods,

    async createPost({ body, caller, unitOfWork }) {
      const post = await serviceCall(posts.publish(signedIn(caller), body, unitOfWork));
      return { status: 201, body: postViewV2(post), headers: { location: location(post), etag: etag(post.version) } };
    },

    async getPost({ path, caller }) {
      const post = await serviceCall(posts.get(caller, path.postId));
      return { status: 200, body: postViewV2(post), headers: { etag: etag(post.version) } };
    },

    async updatePost({ path, headers, body, caller }) {
      const version = requireIfMatch(headers['if-match']);
      const post = await serviceCall(posts.edit(signedIn(caller), path.postId, version, body));
      return { status: 200, body: postViewV2(post), headers: { etag: etag(post.version) } };
    },

    async deletePost({ path, headers, caller }) {
      await serviceCall(posts.remove(signedIn(caller), path.postId, expectedVersion(headers['if-match'])));
      return { status: 204 };
    },

    async listAccountPosts({ path, query }) {
      const page = await serviceCall(
        posts.listByAuthor(path.accountId, { ...listing(query), between: query.between, tz: query.tz }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink(`/accounts/${path.accountId}/posts`, query, page.nextCursor) } };
    },

    async getFeed({ query, caller }) {
      const page = await serviceCall(posts.feed(signedIn(caller), { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor }), LIST_FIELDS);
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink('/feed', query, page.nextCursor) } };
    },

    async createChannelPost({ path, body, caller, unitOfWork }) {
      const post = await serviceCall(posts.publishInChannel(signedIn(caller), path.channelId, body, unitOfWork));
      return { status: 201, body: postViewV2(post), headers: { location: location(post), etag: etag(post.version) } };
    },

    async listChannelPosts({ path, query, caller }) {
      const page = await serviceCall(
        posts.listInChannel(caller, path.channelId, { ...listing(query), between: query.between, tz: query.tz }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink(`/channels/${path.channelId}/posts`, query, page.nextCursor) } };
    },
  };
}
