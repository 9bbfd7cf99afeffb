// The events the posts domain publishes (see ../events.ts), with what they carry.

/** A post was published: a general one (`channelId` null) or in a channel. */
export interface PostPublished {
  postId: string;
  authorId: string;
  channelId: string | null;
  text: string;
  createdAt: Date;
}

declare module '../events.ts' {
  interface DomainEventMap {
    'post.published': PostPublished;
  }
}
