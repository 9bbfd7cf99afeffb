// operationIds tagged `friends`.
import { signedIn, type AccountsService } from '../services/accounts/index.ts';
import type { Friend, FriendRequest, SocialService } from '../services/social/index.ts';
import { paging } from './paging.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers, Schemas } from './operations.ts';
import { accountSummaryView } from './views.ts';
import { isoTime } from './iso-time.ts';

function friendRequestView(request: FriendRequest): Schemas['FriendRequest'] {
  return {
    id: request.id,
    sender: accountSummaryView(request.sender),
    recipient: accountSummaryView(request.recipient),
    createdAt: isoTime(request.createdAt),
  };
}

function friendView(friend: Friend): Schemas['Friend'] {
  return { account: accountSummaryView(friend.account), since: isoTime(friend.since) };
}

export function friendsHandlers(social: SocialService, accounts: AccountsService) {
  return {
    async createFriendRequest({ body, caller, unitOfWork }) {
      const request = await social.sendRequest(signedIn(caller), body.accountId.toLowerCase(), unitOfWork);
      return { status: 201, body: friendRequestView(request), headers: { location: `/v1/friend-requests/${request.id}` } };
    },

    async listFriendRequests({ query, caller }) {
      const page = await social.listRequests(signedIn(caller), { ...paging(query), direction: query.direction ?? 'incoming' });
      return { status: 200, body: { data: page.items.map(friendRequestView), nextCursor: page.nextCursor } };
    },

    async getFriendRequest({ path, caller }) {
      const request = await social.getRequest(signedIn(caller), path.requestId);
      return { status: 200, body: friendRequestView(request) };
    },

    async deleteFriendRequest({ path, caller }) {
      await social.withdrawRequest(signedIn(caller), path.requestId);
      return { status: 204 };
    },

    async listFriends({ path, query }) {
      const page = await social.listFriends(path.accountId, paging(query));
      return { status: 200, body: { data: page.items.map(friendView), nextCursor: page.nextCursor } };
    },

    async getFriend({ path }) {
      const friend = await social.getFriend(path.accountId, path.friendId);
      return { status: 200, body: friendView(friend) };
    },

    async addFriend({ path, caller }) {
      const { friend, created } = await social.acceptRequest(signedIn(caller), path.accountId, path.friendId);
      if (!created) return { status: 200, body: friendView(friend) };
      return {
        status: 201,
        body: friendView(friend),
        headers: { location: `/v1/accounts/${path.accountId}/friends/${path.friendId}` },
      };
    },

    async deleteFriend({ path, caller }) {
      await social.unfriend(signedIn(caller), path.accountId, path.friendId);
      return { status: 204 };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to friend requests and friendships. */
export function friendsAllowedMethods(social: SocialService, accounts: AccountsService) {
  return permissions({
    async '/friend-requests'() {
      return ['GET', 'POST'];
    },
    async '/friend-requests/{requestId}'({ path, caller }) {
      await social.getRequest(signedIn(caller), path.requestId);
      return ['GET', 'DELETE'];
    },
    async '/accounts/{accountId}/friends'({ path }) {
      await accounts.assertExists(path.accountId);
      return ['GET'];
    },
    async '/accounts/{accountId}/friends/{friendId}'({ path, caller }) {
      const may = await social.friendPermissions(caller, path.accountId, path.friendId);
      return ['GET', ...when(may.accept, 'PUT'), ...when(may.delete, 'DELETE')];
    },
  });
}
