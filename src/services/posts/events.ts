// The events the posts domain publishes (see ../events.ts), with what they carry.

/** A post was published: a general one (`channelId` null) or in a channel. */
export interface PostPublished {
  postId: string;
  authorId: string;
  channelId: string | null;
  text: string;
  /** ISO 8601 (the payload travels as JSON). */
  createdAt: string;
}

declare module '../events.ts' {
  interface DomainEventMap {
    'post.published': PostPublished;
  }
}
