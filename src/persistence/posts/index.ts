// The posts domain's persistence API: rows in, rows out. No business rules here.
export { PostsStore } from './store.ts';
export type { ListPostsQuery, PostRow, WriteOutcome } from './store.ts';
export { postsEntities } from './entities.ts';
