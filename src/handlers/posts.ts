// operationIds tagged `posts` (channel posts are created and listed in channels.ts; the feed
// in timelines.ts).
import { signedIn, type AccountsService } from '../services/accounts/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import { paging } from './paging.ts';
import { etag } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { postView } from './views.ts';

export function postsHandlers(posts: PostsService) {
  return {
    async createPost({ body, caller, unitOfWork }) {
      const post = await posts.publish(signedIn(caller), body, unitOfWork);
      return { status: 201, body: postView(post), headers: { location: `/v1/posts/${post.id}`, etag: etag(post.version) } };
    },

    async getPost({ path, caller }) {
      const post = await posts.get(caller, path.postId);
      return { status: 200, body: postView(post), headers: { etag: etag(post.version) } };
    },

    async updatePost({ path, expectedVersion, body, caller }) {
      const post = await posts.edit(signedIn(caller), path.postId, expectedVersion, body);
      return { status: 200, body: postView(post), headers: { etag: etag(post.version) } };
    },

    async deletePost({ path, expectedVersion, caller }) {
      await posts.remove(signedIn(caller), path.postId, expectedVersion);
      return { status: 204 };
    },

    async listAccountPosts({ path, query }) {
      const page = await posts.listByAuthor(path.accountId, { ...paging(query), between: query.between, tz: query.tz });
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
      const may = await posts.permissions(caller, path.postId);
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
    async '/accounts/{accountId}/posts'({ path }) {
      await accounts.assertExists(path.accountId);
      return ['GET'];
    },
  });
}
