// The posts domain served apart: its service interface (PostsService) over the internal contract
// internal/posts.openapi.yaml, whose generated operations type both sides. `agree` below fails
// the build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/posts.d.ts';
import type { Post, PostsService } from '../services/posts/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf } from './wire.ts';

agree<PostsService, operations>(true);

/** The posts domain's internal contract. */
export const postsContract = new URL('../../internal/posts.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;
type WirePost = operations['get']['responses'][200]['content']['application/json'];

const post = (wire: WirePost): Post => ({ ...wire, createdAt: new Date(wire.createdAt), updatedAt: new Date(wire.updatedAt) });

/** PostsService, by calling a domain server (POSTS_SERVICE_URL). */
export function postsStub(client: RemoteClient<operations>): PostsService {
  return {
    async publish(caller, input, unitOfWork) {
      return post(await client.call('publish', [caller, input], { unitOfWork }));
    },
    async publishInChannel(caller, channelId, input, unitOfWork) {
      return post(await client.call('publishInChannel', [caller, channelId, input], { unitOfWork }));
    },
    async get(caller, postId) {
      return post(await client.call('get', [caller, postId]));
    },
    async edit(caller, postId, expectedVersion, patch) {
      return post(await client.call('edit', [caller, postId, expectedVersion ?? null, patch]));
    },
    async remove(caller, postId, expectedVersion) {
      await client.call('remove', [caller, postId, expectedVersion ?? null]);
    },
    async permissions(caller, postId) {
      return client.call('permissions', [caller, postId]);
    },
    async listByAuthor(accountId, request) {
      const page = await client.call('listByAuthor', [accountId, request]);
      return { items: page.items.map(post), nextCursor: page.nextCursor };
    },
    async listInChannel(caller, channelId, request) {
      const page = await client.call('listInChannel', [caller, channelId, request]);
      return { items: page.items.map(post), nextCursor: page.nextCursor };
    },
    async channelPermissions(caller, channelId) {
      return client.call('channelPermissions', [caller, channelId]);
    },
    async forgetAuthor(accountId) {
      await client.call('forgetAuthor', [accountId]);
    },
    async forgetChannels(channelIds) {
      if (channelIds.length === 0) return;
      await client.call('forgetChannels', [channelIds]);
    },
  };
}

/** The internal API over the posts service of this process (SERVE_DOMAINS=posts). */
export function postsBinding(posts: PostsService): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    publish: { keyed: true, run: ([caller, input], uow) => posts.publish(caller, input, uow) },
    publishInChannel: { keyed: true, run: ([caller, channelId, input], uow) => posts.publishInChannel(caller, channelId, input, uow) },
    get: { keyed: false, run: ([caller, postId]) => posts.get(caller, postId) },
    edit: { keyed: false, run: ([caller, postId, expectedVersion, patch]) => posts.edit(caller, postId, expectedVersion ?? undefined, patch) },
    remove: { keyed: false, run: ([caller, postId, expectedVersion]) => posts.remove(caller, postId, expectedVersion ?? undefined) },
    permissions: { keyed: false, run: ([caller, postId]) => posts.permissions(caller, postId) },
    listByAuthor: { keyed: false, run: ([accountId, request]) => posts.listByAuthor(accountId, request) },
    listInChannel: { keyed: false, run: ([caller, channelId, request]) => posts.listInChannel(caller, channelId, request) },
    channelPermissions: { keyed: false, run: ([caller, channelId]) => posts.channelPermissions(caller, channelId) },
    forgetAuthor: { keyed: false, run: ([accountId]) => posts.forgetAuthor(accountId) },
    forgetChannels: { keyed: false, run: ([channelIds]) => posts.forgetChannels(channelIds) },
  };
  return { target: 'posts', contract: postsContract, operations };
}
