// The timelines domain's public API: feeds, and the fan-out that keeps home timelines. Everything
// else in this folder is private to it.
import type { Database } from '../../persistence/sql.ts';
import { TimelinesStore } from '../../persistence/timelines/index.ts';
import type { AccountsService } from '../accounts/index.ts';
import { noCaching, type Caching } from '../cache.ts';
import type { DomainEvents } from '../events.ts';
import type { SocialService } from '../social/index.ts';
import type { TimelinesSettings } from './model.ts';
import { HomeTimelines, type TimelinesService } from './timelines-service.ts';

export type { TimelinesCalls, TimelinesService } from './timelines-service.ts';
export type { PassOutcome } from '../../persistence/timelines/index.ts';
export type { TimelinesSettings } from './model.ts';

export function createTimelinesDomain(
  db: Database,
  others: { accounts: AccountsService; social: SocialService },
  settings: TimelinesSettings,
  caching: Caching = noCaching,
  events?: DomainEvents,
): { timelines: TimelinesService } {
  const timelines = new HomeTimelines(new TimelinesStore(db), others, settings, caching);
  // This instance's own writes evict the feed pages they touch at once (in process, after the
  // write); PostgreSQL's notifications bring every instance's (see timelines-service.ts).
  events?.on('post.changed', ({ postId, authorId }) => timelines.forgetPages({ posts: [postId], authors: [authorId] }));
  events?.on('friendships.changed', ({ accountIds }) => timelines.forgetPages({ owners: accountIds }));
  return { timelines };
}
