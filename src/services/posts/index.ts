// The posts domain's public API: general posts and channel posts (feeds: the timelines domain). Everything else in
// this folder is private to it.
import type { Database } from '../../persistence/sql.ts';
import { PostsStore } from '../../persistence/posts/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import { noCaching, type Caching } from '../cache.ts';
import type { ChannelsService } from '../channels/index.ts';
import type { DomainEvents } from '../events.ts';
import type { PostsSettings } from './model.ts';
import { PostsArchive, type PostsService } from './posts-service.ts';

export type { PostsService } from './posts-service.ts';
export type { PostPublished } from './events.ts';
export type { ListPostsRequest, NewPost, PageRequest, Post, PostPatch, PostsSettings } from './model.ts';
export { postBy } from './model.ts';

export function createPostsDomain(
  db: Database,
  others: { accounts: AccountsService; channels: ChannelsService },
  settings: PostsSettings,
  events?: DomainEvents,
  caching: Caching = noCaching,
): { posts: PostsService } {
  return { posts: new PostsArchive(new PostsStore(db), others, settings, events, caching) };
}
