// The channels domain's persistence API: rows in, rows out. No business rules here.
export { ChannelsStore } from './store.ts';
export type { ChannelRow, ChannelChanges, ListChannelsQuery, ListMembersQuery, MembershipRow, WriteOutcome } from './store.ts';
export { channelsEntities } from './entities.ts';
