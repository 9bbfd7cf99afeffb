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

/**
 * A general post was published, edited or deleted by this instance (in process only, emitted
 * once the write is done): for caches that hold what it changed.
 */
export interface PostChanged {
  postId: string;
  authorId: string;
}

/**
 * A post was deleted, by its author or its channel's owner (in process, emitted once the
 * deletion is done): other domains remove what they hold about it.
 */
export interface PostDeleted {
  postId: string;
  authorId: string;
  channelId: string | null;
}

declare module '../events.ts' {
  interface DomainEventMap {
    'post.published': PostPublished;
    'post.changed': PostChanged;
    'post.deleted': PostDeleted;
  }
}
