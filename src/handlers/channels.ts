// operationIds tagged `channels`. The channel posts among them are the posts domain's: their
// handlers and permission function come last, apart, and src/domains/posts.ts serves them.
import type { Channel, ChannelsService, Member } from '../services/channels/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import { signedIn } from '../services/accounts/index.ts';
import { paging } from './paging.ts';
import { etag } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers, Schemas } from './operations.ts';
import { accountSummaryView, postView } from './views.ts';
import { isoTime } from './iso-time.ts';

function channelView(channel: Channel): Schemas['Channel'] {
  return {
    id: channel.id,
    ownerId: channel.ownerId,
    name: channel.name,
    description: channel.description,
    visibility: channel.visibility,
    createdAt: isoTime(channel.createdAt),
    updatedAt: isoTime(channel.updatedAt),
    version: channel.version,
  };
}

function memberView(member: Member): Schemas['Member'] {
  return { account: accountSummaryView(member.account), role: member.role, joinedAt: isoTime(member.joinedAt) };
}

export function channelsHandlers(channels: ChannelsService) {
  return {
    async createChannel({ body, caller, unitOfWork }) {
      const channel = await channels.create(signedIn(caller), body, unitOfWork);
      return {
        status: 201,
        body: channelView(channel),
        headers: { location: `/v1/channels/${channel.id}`, etag: etag(channel.version) },
      };
    },

    async listChannels({ query }) {
      const page = await channels.listPublic(paging(query));
      return { status: 200, body: { data: page.items.map(channelView), nextCursor: page.nextCursor } };
    },

    async getChannel({ path, caller }) {
      const channel = await channels.get(caller, path.channelId);
      return { status: 200, body: channelView(channel), headers: { etag: etag(channel.version) } };
    },

    async updateChannel({ path, expectedVersion, body, caller }) {
      const channel = await channels.update(signedIn(caller), path.channelId, expectedVersion, body);
      return { status: 200, body: channelView(channel), headers: { etag: etag(channel.version) } };
    },

    async deleteChannel({ path, expectedVersion, caller }) {
      await channels.delete(signedIn(caller), path.channelId, expectedVersion);
      return { status: 204 };
    },

    async listChannelMembers({ path, query, caller }) {
      const page = await channels.listMembers(caller, path.channelId, paging(query));
      return { status: 200, body: { data: page.items.map(memberView), nextCursor: page.nextCursor } };
    },

    async getChannelMember({ path, caller }) {
      const member = await channels.getMember(caller, path.channelId, path.accountId);
      return { status: 200, body: memberView(member) };
    },

    async addChannelMember({ path, caller }) {
      const { member, created } = await channels.addMember(signedIn(caller), path.channelId, path.accountId);
      if (!created) return { status: 200, body: memberView(member) };
      return {
        status: 201,
        body: memberView(member),
        headers: { location: `/v1/channels/${path.channelId}/members/${path.accountId}` },
      };
    },

    async removeChannelMember({ path, caller }) {
      await channels.removeMember(signedIn(caller), path.channelId, path.accountId);
      return { status: 204 };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to the channels resources (channel posts apart). */
export function channelsAllowedMethods(channels: ChannelsService) {
  return permissions({
    async '/channels'({ caller }) {
      return ['GET', ...when(caller !== null, 'POST')];
    },
    async '/channels/{channelId}'({ path, caller }) {
      const may = await channels.permissions(caller, path.channelId);
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
    async '/channels/{channelId}/members'({ path, caller }) {
      await channels.access(caller, path.channelId);
      return ['GET'];
    },
    async '/channels/{channelId}/members/{accountId}'({ path, caller }) {
      const may = await channels.memberPermissions(caller, path.channelId, path.accountId);
      return ['GET', ...when(may.put, 'PUT'), ...when(may.delete, 'DELETE')];
    },
  });
}

/** The posts of a channel: published and listed in the channel, kept by the posts domain. */
export function channelPostsHandlers(posts: PostsService) {
  return {
    async createChannelPost({ path, body, caller, unitOfWork }) {
      const post = await posts.publishInChannel(signedIn(caller), path.channelId, body, unitOfWork);
      return { status: 201, body: postView(post), headers: { location: `/v1/posts/${post.id}`, etag: etag(post.version) } };
    },

    async listChannelPosts({ path, query, caller }) {
      const page = await posts.listInChannel(caller, path.channelId, { ...paging(query), between: query.between, tz: query.tz });
      return { status: 200, body: { data: page.items.map(postView), nextCursor: page.nextCursor } };
    },
  } satisfies Partial<Handlers>;
}

/** Who may read and post in a channel: the posts domain asks the channels domain. */
export function channelPostsAllowedMethods(posts: PostsService) {
  return permissions({
    async '/channels/{channelId}/posts'({ path, caller }) {
      const may = await posts.channelPermissions(caller, path.channelId);
      return ['GET', ...when(may.post, 'POST')];
    },
  });
}
