// operationIds tagged `channels`, channel posts included (the posts domain keeps them).
import type { Channel, ChannelsService, Member } from '../services/channels/index.ts';
import type { PostsService } from '../services/posts/index.ts';
import { LIST_FIELDS, paging, signedIn } from './caller.ts';
import { etag, expectedVersion, requireIfMatch } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers, Schemas } from './operations.ts';
import { serviceCall } from './problem.ts';
import { accountSummaryView, postView } from './views.ts';

function channelView(channel: Channel): Schemas['Channel'] {
  return {
    id: channel.id,
    ownerId: channel.ownerId,
    name: channel.name,
    description: channel.description,
    visibility: channel.visibility,
    createdAt: channel.createdAt.toISOString(),
    updatedAt: channel.updatedAt.toISOString(),
    version: channel.version,
  };
}

function memberView(member: Member): Schemas['Member'] {
  return { account: accountSummaryView(member.account), role: member.role, joinedAt: member.joinedAt.toISOString() };
}

export function channelsHandlers(channels: ChannelsService, posts: PostsService) {
  return {
    async createChannel({ body, caller, unitOfWork }) {
      const channel = await serviceCall(channels.create(signedIn(caller), body, unitOfWork));
      return {
        status: 201,
        body: channelView(channel),
        headers: { location: `/v1/channels/${channel.id}`, etag: etag(channel.version) },
      };
    },

    async listChannels({ query }) {
      const page = await serviceCall(channels.listPublic(paging(query)), LIST_FIELDS);
      return { status: 200, body: { data: page.items.map(channelView), nextCursor: page.nextCursor } };
    },

    async getChannel({ path, caller }) {
      const channel = await serviceCall(channels.get(caller, path.channelId));
      return { status: 200, body: channelView(channel), headers: { etag: etag(channel.version) } };
    },

    async updateChannel({ path, headers, body, caller }) {
      const version = requireIfMatch(headers['if-match']);
      const channel = await serviceCall(channels.update(signedIn(caller), path.channelId, version, body));
      return { status: 200, body: channelView(channel), headers: { etag: etag(channel.version) } };
    },

    async deleteChannel({ path, headers, caller }) {
      await serviceCall(channels.delete(signedIn(caller), path.channelId, expectedVersion(headers['if-match'])));
      return { status: 204 };
    },

    async listChannelMembers({ path, query, caller }) {
      const page = await serviceCall(channels.listMembers(caller, path.channelId, paging(query)), LIST_FIELDS);
      return { status: 200, body: { data: page.items.map(memberView), nextCursor: page.nextCursor } };
    },

    async getChannelMember({ path, caller }) {
      const member = await serviceCall(channels.getMember(caller, path.channelId, path.accountId));
      return { status: 200, body: memberView(member) };
    },

    async addChannelMember({ path, caller }) {
      const { member, created } = await serviceCall(channels.addMember(signedIn(caller), path.channelId, path.accountId));
      if (!created) return { status: 200, body: memberView(member) };
      return {
        status: 201,
        body: memberView(member),
        headers: { location: `/v1/channels/${path.channelId}/members/${path.accountId}` },
      };
    },

    async removeChannelMember({ path, caller }) {
      await serviceCall(channels.removeMember(signedIn(caller), path.channelId, path.accountId));
      return { status: 204 };
    },

    async createChannelPost({ path, body, caller, unitOfWork }) {
      const post = await serviceCall(posts.publishInChannel(signedIn(caller), path.channelId, body, unitOfWork));
      return { status: 201, body: postView(post), headers: { location: `/v1/posts/${post.id}`, etag: etag(post.version) } };
    },

    async listChannelPosts({ path, query, caller }) {
      const page = await serviceCall(
        posts.listInChannel(caller, path.channelId, { ...paging(query), between: query.between, tz: query.tz }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map(postView), nextCursor: page.nextCursor } };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to the channels resources, channel posts included. */
export function channelsAllowedMethods(channels: ChannelsService, posts: PostsService) {
  return permissions({
    async '/channels'({ caller }) {
      return ['GET', ...when(caller !== null, 'POST')];
    },
    async '/channels/{channelId}'({ path, caller }) {
      const may = await serviceCall(channels.permissions(caller, path.channelId));
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
    async '/channels/{channelId}/members'({ path, caller }) {
      await serviceCall(channels.access(caller, path.channelId));
      return ['GET'];
    },
    async '/channels/{channelId}/members/{accountId}'({ path, caller }) {
      const may = await serviceCall(channels.memberPermissions(caller, path.channelId, path.accountId));
      return ['GET', ...when(may.put, 'PUT'), ...when(may.delete, 'DELETE')];
    },
    async '/channels/{channelId}/posts'({ path, caller }) {
      const may = await serviceCall(posts.channelPermissions(caller, path.channelId));
      return ['GET', ...when(may.post, 'POST')];
    },
  });
}
