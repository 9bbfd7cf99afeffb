// operationIds tagged `posts` (channel posts are created and listed in channels.ts).
import type { AccountsService } from '../services/accounts/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import { DEFAULT_LIMIT, LIST_FIELDS, paging, signedIn } from './caller.ts';
import { etag, expectedVersion, requireIfMatch } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { serviceCall } from './problem.ts';
import { postView } from './views.ts';

export function postsHandlers(posts: PostsService) {
  return {
    async createPost({ body, caller, unitOfWork }) {
      const post = await serviceCall(posts.publish(signedIn(caller), body, unitOfWork));
      return { status: 201, body: postView(post), headers: { location: `/v1/posts/${post.id}`, etag: etag(post.version) } };
    },

    async getPost({ path, caller }) {
      const post = await serviceCall(posts.get(caller, path.postId));
      return { status: 200, body: postView(post), headers: { etag: etag(post.version) } };
    },

    async updatePost({ path, headers, body, caller }) {
      const version = requireIfMatch(headers['if-match']);
      const post = await serviceCall(posts.edit(signedIn(caller), path.postId, version, body));
      return { status: 200, body: postView(post), headers: { etag: etag(post.version) } };
    },

    async deletePost({ path, headers, caller }) {
      await serviceCall(posts.remove(signedIn(caller), path.postId, expectedVersion(headers['if-match'])));
      return { status: 204 };
    },

    async listAccountPosts({ path, query }) {
      const page = await serviceCall(
        posts.listByAuthor(path.accountId, { ...paging(query), between: query.between, tz: query.tz }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map(postView), nextCursor: page.nextCursor } };
    },

    async getFeed({ query, caller }) {
      const page = await serviceCall(
        posts.feed(signedIn(caller), { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor, page: query.page }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map(postView), nextCursor: page.nextCursor } };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to the posts resources (channel posts are in channels.ts); v1 and v2 share them. */
export function postsAllowedMethods(posts: PostsService, accounts: AccountsService) {
  return permissions({
    async '/posts'({ caller }) {
      return when(caller !== null, 'POST');
    },
    async '/posts/{postId}'({ path, caller }) {
      const may = await serviceCall(posts.permissions(caller, path.postId));
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
    async '/accounts/{accountId}/posts'({ path }) {
      await serviceCall(accounts.assertExists(path.accountId));
      return ['GET'];
    },
    async '/feed'() {
      return ['GET'];
    },
  });
}
