// The feed (operationId getFeed, tagged `posts`), served by the timelines domain in both
// versions of the API.
import { signedIn } from '../services/accounts/index.ts';
import type { TimelinesService } from '../services/timelines/index.ts';
import { permissions } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { DEFAULT_LIMIT } from './paging.ts';
import { nextLink, postViewV2, type HandlersV2 } from './v2/posts.ts';
import { postView } from './views.ts';

export function timelinesHandlers(timelines: TimelinesService) {
  return {
    async getFeed({ query, caller }) {
      const page = await timelines.feed(signedIn(caller), { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor, page: query.page });
      return { status: 200, body: { data: page.items.map(postView), nextCursor: page.nextCursor } };
    },
  } satisfies Partial<Handlers>;
}

export function timelinesHandlersV2(timelines: TimelinesService) {
  return {
    async getFeed({ query, caller }) {
      const page = await timelines.feed(signedIn(caller), { limit: query.limit ?? DEFAULT_LIMIT, cursor: query.cursor });
      return { status: 200, body: { data: page.items.map(postViewV2), next: nextLink('/feed', query, page.nextCursor) } };
    },
  } satisfies Partial<HandlersV2>;
}

export function timelinesAllowedMethods() {
  return permissions({
    async '/feed'() {
      return ['GET'];
    },
  });
}
