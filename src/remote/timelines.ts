// The timelines domain served apart: its calls (TimelinesCalls) over the internal contract
// internal/timelines.openapi.yaml, whose generated operations type both sides. `agree` below
// fails the build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/timelines.d.ts';
import type { Post } from '../services/posts/index.ts';
import type { TimelinesCalls, TimelinesService } from '../services/timelines/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf } from './wire.ts';

agree<TimelinesCalls, operations>(true);

/** The timelines domain's internal contract. */
export const timelinesContract = new URL('../../internal/timelines.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;
type WirePost = operations['feed']['responses'][200]['content']['application/json']['items'][number];

const post = (wire: WirePost): Post => ({ ...wire, createdAt: new Date(wire.createdAt), updatedAt: new Date(wire.updatedAt) });

/** TimelinesService, by calling a domain server (TIMELINES_SERVICE_URL). */
export function timelinesStub(client: RemoteClient<operations>): TimelinesService {
  return {
    async feed(caller, request) {
      const page = await client.call('feed', [caller, request]);
      return { items: page.items.map(post), nextCursor: page.nextCursor };
    },
    async fanOut(options) {
      return client.call('fanOut', [options]);
    },
    async onFriendRequestAccepted(event, uow) {
      // The event as the contract has it (the social domain's carries more than the timelines take).
      await client.call('onFriendRequestAccepted', [{ accountId: event.accountId, friendId: event.friendId }], { unitOfWork: uow });
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
    // The fan-out keeps the timelines the timelines server owns: its own workers run it (see
    // boot.ts). A worker that uses the domain through this stub has no pass of its own to run.
    startFanOut() {
      return { stop: async () => {} };
    },
  };
}

/** The internal API over the timelines service of this process (SERVE_DOMAINS=timelines). */
export function timelinesBinding(timelines: TimelinesCalls): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    feed: { keyed: false, run: ([caller, request]) => timelines.feed(caller, request) },
    fanOut: { keyed: false, run: ([options]) => timelines.fanOut(options) },
    onFriendRequestAccepted: { keyed: true, run: ([event], uow) => timelines.onFriendRequestAccepted(event, uow) },
    forgetAccount: { keyed: false, run: ([accountId]) => timelines.forgetAccount(accountId) },
  };
  return { target: 'timelines', contract: timelinesContract, operations };
}
