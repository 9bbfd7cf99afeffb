// The posts domain's table, in the `posts` PostgreSQL schema. Authors and channels live in
// other domains, so their ids are plain uuids without foreign keys.
import { defineEntity, p } from '@mikro-orm/core';

export const PostEntity = defineEntity({
  name: 'Post',
  schema: 'posts',
  tableName: 'post',
  properties: {
    id: p.uuid().primary(),
    authorId: p.uuid(),
    /** Null for a general post. */
    channelId: p.uuid().nullable(),
    text: p.string().length(5000),
    // Milliseconds, like the JavaScript dates that keyset cursors carry.
    createdAt: p.datetime(3),
    updatedAt: p.datetime(3),
    version: p.integer(),
  },
  // Every list is `... order by created_at, id` over one of these ranges: an author's general
  // posts (`channel_id is null` is an index condition) and a channel's posts. The first also
  // serves the feed (one range per author) and removing a closed account's posts.
  indexes: [
    { name: 'post_author_id_channel_id_created_at_id_index', properties: ['authorId', 'channelId', 'createdAt', 'id'] },
    { name: 'post_channel_id_created_at_id_index', properties: ['channelId', 'createdAt', 'id'] },
  ],
});

export const postsEntities = [PostEntity];
