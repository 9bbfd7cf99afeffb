// The channels domain served apart: its service interface (ChannelsService) over the internal
// contract internal/channels.openapi.yaml, whose generated operations type both sides. `agree`
// below fails the build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/channels.d.ts';
import type { Channel, ChannelAccess, ChannelsService, Member } from '../services/channels/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf } from './wire.ts';

agree<ChannelsService, operations>(true);

/** The channels domain's internal contract. */
export const channelsContract = new URL('../../internal/channels.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;
type WireChannel = operations['get']['responses'][200]['content']['application/json'];
type WireMember = operations['getMember']['responses'][200]['content']['application/json'];

const channel = (wire: WireChannel): Channel => ({ ...wire, createdAt: new Date(wire.createdAt), updatedAt: new Date(wire.updatedAt) });
const member = (wire: WireMember): Member => ({ ...wire, joinedAt: new Date(wire.joinedAt) });

/** ChannelsService, by calling a domain server (CHANNELS_SERVICE_URL). */
export function channelsStub(client: RemoteClient<operations>): ChannelsService {
  return {
    async create(caller, input, unitOfWork) {
      return channel(await client.call('create', [caller, input], { unitOfWork }));
    },
    async access(caller, channelId): Promise<ChannelAccess> {
      const access = await client.call('access', [caller, channelId]);
      return { ...access, channel: channel(access.channel) };
    },
    async get(caller, channelId) {
      return channel(await client.call('get', [caller, channelId]));
    },
    async listPublic(request) {
      const page = await client.call('listPublic', [request]);
      return { items: page.items.map(channel), nextCursor: page.nextCursor };
    },
    async update(caller, channelId, expectedVersion, patch) {
      return channel(await client.call('update', [caller, channelId, expectedVersion ?? null, patch]));
    },
    async delete(caller, channelId, expectedVersion) {
      await client.call('delete', [caller, channelId, expectedVersion ?? null]);
    },
    async permissions(caller, channelId) {
      return client.call('permissions', [caller, channelId]);
    },
    async listMembers(caller, channelId, request) {
      const page = await client.call('listMembers', [caller, channelId, request]);
      return { items: page.items.map(member), nextCursor: page.nextCursor };
    },
    async getMember(caller, channelId, accountId) {
      return member(await client.call('getMember', [caller, channelId, accountId]));
    },
    async addMember(caller, channelId, accountId) {
      const added = await client.call('addMember', [caller, channelId, accountId]);
      return { member: member(added.member), created: added.created };
    },
    async removeMember(caller, channelId, accountId) {
      await client.call('removeMember', [caller, channelId, accountId]);
    },
    async memberPermissions(caller, channelId, accountId) {
      return client.call('memberPermissions', [caller, channelId, accountId]);
    },
    async memberIds(channelId, limit) {
      return client.call('memberIds', [channelId, limit]);
    },
    async whoCanSee(channelId, accountIds) {
      if (accountIds.length === 0) return new Set();
      return new Set(await client.call('whoCanSee', [channelId, [...accountIds]]));
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
  };
}

/** The internal API over the channels service of this process (SERVE_DOMAINS=channels). */
export function channelsBinding(channels: ChannelsService): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    create: { keyed: true, run: ([caller, input], uow) => channels.create(caller, input, uow) },
    access: { keyed: false, run: ([caller, channelId]) => channels.access(caller, channelId) },
    get: { keyed: false, run: ([caller, channelId]) => channels.get(caller, channelId) },
    listPublic: { keyed: false, run: ([request]) => channels.listPublic(request) },
    update: { keyed: false, run: ([caller, channelId, expectedVersion, patch]) => channels.update(caller, channelId, expectedVersion ?? undefined, patch) },
    delete: { keyed: false, run: ([caller, channelId, expectedVersion]) => channels.delete(caller, channelId, expectedVersion ?? undefined) },
    permissions: { keyed: false, run: ([caller, channelId]) => channels.permissions(caller, channelId) },
    listMembers: { keyed: false, run: ([caller, channelId, request]) => channels.listMembers(caller, channelId, request) },
    getMember: { keyed: false, run: ([caller, channelId, accountId]) => channels.getMember(caller, channelId, accountId) },
    addMember: { keyed: false, run: ([caller, channelId, accountId]) => channels.addMember(caller, channelId, accountId) },
    removeMember: { keyed: false, run: ([caller, channelId, accountId]) => channels.removeMember(caller, channelId, accountId) },
    memberPermissions: { keyed: false, run: ([caller, channelId, accountId]) => channels.memberPermissions(caller, channelId, accountId) },
    memberIds: { keyed: false, run: ([channelId, limit]) => channels.memberIds(channelId, limit) },
    whoCanSee: { keyed: false, run: async ([channelId, accountIds]) => [...(await channels.whoCanSee(channelId, accountIds))] },
    forgetAccount: { keyed: false, run: ([accountId]) => channels.forgetAccount(accountId) },
  };
  return { target: 'channels', contract: channelsContract, operations };
}
