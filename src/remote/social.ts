// The social graph served apart: its service interface (SocialService) over the internal
// contract internal/social.openapi.yaml, whose generated operations type both sides. `agree`
// below fails the build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/social.d.ts';
import type { Friend, FriendRequest, SocialService } from '../services/social/index.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf } from './wire.ts';

agree<SocialService, operations>(true);

/** The social domain's internal contract. */
export const socialContract = new URL('../../internal/social.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;
type WireFriendRequest = operations['getRequest']['responses'][200]['content']['application/json'];
type WireFriend = operations['getFriend']['responses'][200]['content']['application/json'];

const friendRequest = (wire: WireFriendRequest): FriendRequest => ({ ...wire, createdAt: new Date(wire.createdAt) });
const friend = (wire: WireFriend): Friend => ({ ...wire, since: new Date(wire.since) });

/** SocialService, by calling a domain server (SOCIAL_SERVICE_URL). */
export function socialStub(client: RemoteClient<operations>): SocialService {
  return {
    async sendRequest(caller, recipientId, unitOfWork) {
      return friendRequest(await client.call('sendRequest', [caller, recipientId], { unitOfWork }));
    },
    async getRequest(caller, requestId) {
      return friendRequest(await client.call('getRequest', [caller, requestId]));
    },
    async listRequests(caller, request) {
      const page = await client.call('listRequests', [caller, request]);
      return { items: page.items.map(friendRequest), nextCursor: page.nextCursor };
    },
    async withdrawRequest(caller, requestId) {
      await client.call('withdrawRequest', [caller, requestId]);
    },
    async acceptRequest(caller, accountId, friendId, unitOfWork) {
      const accepted = await client.call('acceptRequest', [caller, accountId, friendId], { unitOfWork });
      return { friend: friend(accepted.friend), created: accepted.created };
    },
    async getFriend(accountId, friendId) {
      return friend(await client.call('getFriend', [accountId, friendId]));
    },
    async listFriends(accountId, request) {
      const page = await client.call('listFriends', [accountId, request]);
      return { items: page.items.map(friend), nextCursor: page.nextCursor };
    },
    async unfriend(caller, accountId, friendId) {
      await client.call('unfriend', [caller, accountId, friendId]);
    },
    async friendIdsOf(accountId) {
      return client.call('friendIdsOf', [accountId]);
    },
    async friendPermissions(caller, accountId, friendId) {
      return client.call('friendPermissions', [caller, accountId, friendId]);
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
  };
}

/** The internal API over the social service of this process (SERVE_DOMAINS=social). */
export function socialBinding(social: SocialService): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: Parameters<SocialService['sendRequest']>[2]): Promise<unknown> } } = {
    sendRequest: { keyed: true, run: ([caller, recipientId], uow) => social.sendRequest(caller, recipientId, uow) },
    getRequest: { keyed: false, run: ([caller, requestId]) => social.getRequest(caller, requestId) },
    listRequests: { keyed: false, run: ([caller, request]) => social.listRequests(caller, request) },
    withdrawRequest: { keyed: false, run: ([caller, requestId]) => social.withdrawRequest(caller, requestId) },
    acceptRequest: { keyed: true, run: ([caller, accountId, friendId], uow) => social.acceptRequest(caller, accountId, friendId, uow) },
    getFriend: { keyed: false, run: ([accountId, friendId]) => social.getFriend(accountId, friendId) },
    listFriends: { keyed: false, run: ([accountId, request]) => social.listFriends(accountId, request) },
    unfriend: { keyed: false, run: ([caller, accountId, friendId]) => social.unfriend(caller, accountId, friendId) },
    friendIdsOf: { keyed: false, run: ([accountId]) => social.friendIdsOf(accountId) },
    friendPermissions: { keyed: false, run: ([caller, accountId, friendId]) => social.friendPermissions(caller, accountId, friendId) },
    forgetAccount: { keyed: false, run: ([accountId]) => social.forgetAccount(accountId) },
  };
  return { target: 'social', contract: socialContract, operations };
}
