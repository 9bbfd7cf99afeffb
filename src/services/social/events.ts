// The events the social domain publishes (see ../events.ts), with what they carry.

/** `senderId` asked `recipientId` to be friends. */
export interface FriendRequestCreated {
  requestId: string;
  senderId: string;
  recipientId: string;
}

/** `accountId` accepted the friend request `friendId` had sent it: they are friends (`friendshipId` is accountId's side). */
export interface FriendRequestAccepted {
  friendshipId: string;
  accountId: string;
  friendId: string;
}

/** Friendships of these accounts began or ended, by this instance (in process only, emitted once the write is done). */
export interface FriendshipsChanged {
  accountIds: string[];
}

declare module '../events.ts' {
  interface DomainEventMap {
    'friendships.changed': FriendshipsChanged;
    'friendRequest.created': FriendRequestCreated;
    'friendRequest.accepted': FriendRequestAccepted;
  }
}
