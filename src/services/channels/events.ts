// The events the channels domain publishes (see ../events.ts), with what they carry.

/** Channels were deleted; other domains remove what lived in them. */
export interface ChannelsDeleted {
  channelIds: string[];
}

declare module '../events.ts' {
  interface DomainEventMap {
    'channels.deleted': ChannelsDeleted;
  }
}
