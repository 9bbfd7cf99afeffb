// The fan-out's trims (src/services/timelines/timelines-service.ts) on a fake store: timelines
// that gained a tenth of their length are cut back a chunk at a time after each pass, since a trim
// holds the fan-out's lock and the next pass waits for it (every timeline that grew, all at once,
// held new posts back from feeds for seconds under load), each chunk as many as fit in about
// TRIM_BUDGET_MS at the slowest recent pace; a full pass trims every one that grew; a trim that
// fails is retried.
import t from 'tap';
import type { PassOutcome, TimelinesStore } from '../src/persistence/timelines/store.ts';
import type { AccountsService } from '../src/services/accounts/index.ts';
import type { SocialService } from '../src/services/social/index.ts';
import { HomeTimelines, nextTrimPace, TRIM_BUDGET_MS, TRIM_PACE_HALF_LIFE_MS, trimChunk, trimSlack } from '../src/services/timelines/timelines-service.ts';
import type { TimelinesSettings } from '../src/services/timelines/model.ts';
import { TIMELINES_SETTINGS } from './helpers/timelines-settings.ts';

const SETTINGS: TimelinesSettings = { ...TIMELINES_SETTINGS, forgetIntervalMs: 60_000, trimIntervalMs: 0 };

function setup() {
  const trims: string[][] = [];
  let touched: string[] = [];
  let gained = 0;
  let failNext = false;
  let msPerOwner = 0;
  const store = {
    async pass(): Promise<PassOutcome> {
      const outcome = { ran: true, posts: touched.length, entries: touched.length * gained, maxLagSeconds: 0, touched, added: touched.map(() => gained), caughtUp: true };
      touched = [];
      return outcome;
    },
    async trim(owners: string[]) {
      if (failNext) {
        failNext = false;
        throw new Error('the database went away');
      }
      if (msPerOwner > 0) await new Promise((resolve) => setTimeout(resolve, msPerOwner * owners.length));
      trims.push(owners);
      return 0;
    },
    async forgetHandled() {
      return 0;
    },
    async forgetOwner() {},
  } as unknown as TimelinesStore;
  const timelines = new HomeTimelines(store, { accounts: {} as AccountsService, social: {} as SocialService }, SETTINGS);
  return {
    timelines,
    trims,
    /** The next pass writes `entries` to each of `owners` (by default, as many as make them due for a trim). */
    grow: (owners: string[], entries = trimSlack(SETTINGS.length)) => {
      touched = owners;
      gained = entries;
    },
    failNextTrim: () => void (failNext = true),
    /** From now on a trim takes this long per timeline (0: at once). */
    trimPace: (ms: number) => void (msPerOwner = ms),
  };
}

const owners = (n: number, prefix = 'o') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

t.test('timelines that grew are trimmed a chunk per pass, until all are', async (t) => {
  const { timelines, trims, grow } = setup();
  grow(owners(450));
  await timelines.fanOut({});
  t.equal(trims.length, 1, 'one trim after the pass that found them');
  t.ok(trims[0]!.length < 450 && trims[0]!.length > 0, `a chunk of them (${trims[0]!.length})`);
  while (trims.flat().length < 450) await timelines.fanOut({});
  t.ok(trims.every((chunk) => chunk.length <= trims[0]!.length), 'every chunk at most that size');
  t.same(new Set(trims.flat()), new Set(owners(450)), 'each of them trimmed');
  t.equal(trims.flat().length, 450, 'once');
  await timelines.fanOut({});
  t.equal(trims.flat().length, 450, 'nothing left to trim');
});

t.test('timelines that grow during a trim wait for the next one', async (t) => {
  const { timelines, trims, grow } = setup();
  grow(owners(300));
  await timelines.fanOut({});
  grow(owners(5, 'late'));
  while (trims.flat().length < 300) await timelines.fanOut({});
  t.notOk(trims.flat().some((o) => o.startsWith('late')), 'the first trim is the timelines that had grown when it began');
  await timelines.fanOut({});
  t.same(trims.at(-1), owners(5, 'late'), 'the next one takes the rest');
});

t.test('a full pass trims every timeline that grew, now', async (t) => {
  const { timelines, trims, grow } = setup();
  grow(owners(450));
  await timelines.fanOut({ full: true });
  t.same(new Set(trims.flat()), new Set(owners(450)));
  t.ok(trims.length > 1, 'still in chunks');
});

t.test('a trim that fails is taken again by the next one', async (t) => {
  const { timelines, trims, grow, failNextTrim } = setup();
  grow(owners(10));
  failNextTrim();
  await t.rejects(timelines.fanOut({}), /went away/);
  await timelines.fanOut({});
  t.same(new Set(trims.flat()), new Set(owners(10)));
});

t.test('a timeline is trimmed once it gained a tenth of its length, or at a full pass', async (t) => {
  t.equal(trimSlack(400), 40);
  t.equal(trimSlack(6), 1, 'at least one');
  const { timelines, trims, grow } = setup();
  grow(['a', 'b'], 30);
  await timelines.fanOut({});
  t.same(trims, [], 'neither gained 40 entries yet');
  grow(['a'], 10);
  await timelines.fanOut({});
  t.same(trims, [['a']], 'a has, b has not');
  await timelines.fanOut({ full: true });
  t.same(trims, [['a'], ['b']], 'a full pass trims b too');
  await timelines.fanOut({ full: true });
  t.equal(trims.length, 2, 'and then nothing is left');
});

t.test("a closed account's timeline is no longer waiting for a trim", async (t) => {
  const { timelines, trims, grow } = setup();
  grow(['closed', 'open'], 30);
  await timelines.fanOut({});
  t.same(trims, [], 'neither is due yet');
  await timelines.forgetAccount('closed');
  await timelines.fanOut({ full: true });
  t.same(trims, [['open']], 'a full pass trims the one still open only');
});

t.test("a trim's size follows the slowest recent pace", async (t) => {
  t.equal(trimChunk(TRIM_BUDGET_MS / 200), 200, 'at 1 ms a timeline, 200 fit in the budget');
  t.equal(trimChunk(10), 20, 'at 10 ms, 20');
  t.equal(trimChunk(1000), 10, 'never fewer than 10');
  t.equal(trimChunk(0.01), 200, 'never more than 200');
  t.equal(trimChunk(0), 200, 'a pace too quick to measure');
  t.equal(nextTrimPace(1, 0, 200, 2100), 10.5, 'a trim of 200 that took 2.1 s sets a pace of 10.5 ms');
  t.equal(nextTrimPace(10, 0, 200, 200), 10, 'a quicker trim right after does not bring it down');
  t.equal(nextTrimPace(10, TRIM_PACE_HALF_LIFE_MS, 200, 200), 5, 'a half-life later it counts half');
  t.equal(nextTrimPace(10, 5 * TRIM_PACE_HALF_LIFE_MS, 200, 200), 1, 'and is forgotten for a quicker one in time');
  t.equal(nextTrimPace(1, 0, 4, 3000), 1, 'the last few of a queue say nothing of the pace');

  const { timelines, trims, grow, trimPace } = setup();
  trimPace((2 * TRIM_BUDGET_MS) / 200); // 200 timelines: twice the budget
  grow(owners(1000));
  await timelines.fanOut({});
  t.equal(trims[0]!.length, 200, 'the first trim takes 200');
  await timelines.fanOut({});
  t.ok(trims[1]!.length <= 100 && trims[1]!.length >= 10, `it took twice the budget, so the next takes at most half as many (${trims[1]!.length})`);
  trimPace(0);
  while (trims.flat().length < 1000) await timelines.fanOut({});
  t.ok(
    trims.slice(1).every((chunk) => chunk.length <= 100),
    `quick trims right after a slow one keep its size (${trims.slice(1).map((c) => c.length).join(', ')})`,
  );
  t.same(new Set(trims.flat()), new Set(owners(1000)), 'every timeline that grew is trimmed');
  t.equal(trims.flat().length, 1000, 'once');
});
