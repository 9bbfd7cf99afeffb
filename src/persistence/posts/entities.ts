// The posts domain's table, in the `posts` PostgreSQL schema. Authors and channels live in
// other domains, so their ids are plain uuids without foreign keys.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

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
  // Invalidate the posts and channel pages every instance keeps in memory (Migration20261203120000), and the feed
  // pages (Migration20261202220000; those functions are the timelines domain's). A new general post does not
  // notify: the fan-out pass announces its author (Migration20261205230000).
  triggers: [
    notifyingTrigger('posts', 'post', 'post_added', 'insert'),
    notifyingTrigger('posts', 'post', 'post_changed', 'update'),
    notifyingTrigger('posts', 'post', 'post_gone', 'delete'),
    notifyingTrigger('posts', 'post', 'timelines_post_changed', 'update', 'timelines'),
    notifyingTrigger('posts', 'post', 'timelines_post_gone', 'delete', 'timelines'),
  ],
});

export const postsEntities = [PostEntity];
