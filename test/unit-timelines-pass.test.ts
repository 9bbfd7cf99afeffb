// What the fan-out's service (src/services/timelines/timelines-service.ts) asks of its store, on
// a fake one: every pass the same settings (where it starts is the store's: the bound the last
// pass noted, test/timelines.test.ts), the whole grace window too when `full`; and the handled
// posts forgotten only after a pass that ran and caught up, at most once a forget interval but
// on a full pass.
import t from 'tap';
import type { FanOutSettings, PassOutcome, TimelinesStore } from '../src/persistence/timelines/store.ts';
import type { AccountsService } from '../src/services/accounts/index.ts';
import type { SocialService } from '../src/services/social/index.ts';
import { HomeTimelines } from '../src/services/timelines/timelines-service.ts';
import type { TimelinesSettings } from '../src/services/timelines/model.ts';
import { TIMELINES_SETTINGS } from './helpers/timelines-settings.ts';

const SETTINGS: TimelinesSettings = { ...TIMELINES_SETTINGS, forgetIntervalMs: 200 };

function setup() {
  const passes: FanOutSettings[] = [];
  let forgotten = 0;
  let ran = true;
  let caughtUp = true;
  const store = {
    async pass(settings: FanOutSettings): Promise<PassOutcome & { added: number[] }> {
      passes.push(settings);
      return { ran, posts: 0, entries: 0, maxLagSeconds: 0, touched: [], added: [], caughtUp };
    },
    async trim() {
      return 0;
    },
    async forgetHandled(graceMs: number) {
      if (graceMs !== SETTINGS.graceMs) throw new Error(`forgot within the grace window: ${graceMs}`);
      forgotten++;
      return 0;
    },
  } as unknown as TimelinesStore;
  const timelines = new HomeTimelines(store, { accounts: {} as AccountsService, social: {} as SocialService }, SETTINGS);
  return {
    timelines,
    passes,
    forgotten: () => forgotten,
    /** Whether the next passes get the lock, and find less than a batch. */
    set: (next: { ran?: boolean; caughtUp?: boolean }) => {
      ran = next.ran ?? ran;
      caughtUp = next.caughtUp ?? caughtUp;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('every pass asks for the same: its window at least, from where the passes before it said to start', async (t) => {
  const { timelines, passes } = setup();
  for (let i = 0; i < 4; i++) await timelines.fanOut({});
  t.same(passes, Array.from({ length: 4 }, () => ({ batch: 2000, windowMs: 2000, graceMs: 60_000, full: false, wideFriends: 2000, length: 400 })));
  await timelines.fanOut({ full: true });
  t.same(passes[4], { batch: 2000, windowMs: 2000, graceMs: 60_000, full: true, wideFriends: 2000, length: 400 }, 'a full pass: the whole grace window too');
});

t.test('handled posts are forgotten after a pass that caught up, at most once a forget interval, and on every full pass', async (t) => {
  const { timelines, forgotten, set } = setup();
  await timelines.fanOut({});
  t.equal(forgotten(), 1, 'the first pass that catches up');
  await timelines.fanOut({});
  await timelines.fanOut({});
  t.equal(forgotten(), 1, 'not again within the interval');
  await timelines.fanOut({ full: true });
  t.equal(forgotten(), 2, 'a full pass forgets whenever it runs');
  await sleep(SETTINGS.forgetIntervalMs + 20);
  set({ caughtUp: false });
  await timelines.fanOut({});
  t.equal(forgotten(), 2, 'not after a pass that its batch cut short: the next one reads on from its last post');
  set({ ran: false, caughtUp: true });
  await timelines.fanOut({});
  t.equal(forgotten(), 2, 'nor after one that did not get the lock');
  set({ ran: true });
  await timelines.fanOut({});
  t.equal(forgotten(), 3, 'the next that runs and catches up, the interval past');
});
