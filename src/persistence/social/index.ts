// The social graph's persistence API: rows in, rows out. No business rules here.
export { SocialStore } from './store.ts';
export type { FriendRequestRow, FriendshipRow, ListFriendRequestsQuery, ListFriendsQuery, NewRequestOutcome, AcceptOutcome } from './store.ts';
export { socialEntities } from './entities.ts';
