// The fan-out's look back over the grace window (src/services/timelines/timelines-service.ts),
// for posts whose transaction committed late: a slice of it in each pass, the slices covering it
// once every sweep interval, instead of the whole minute in one pass every sweep interval (which
// took 300–700 ms under full write load, and new posts waited for it). Here: sweepSlice itself,
// a simulation of late commits against the slices of passes at uneven intervals, and what the
// service asks of its store (on a fake one).
import t from 'tap';
import type { Test } from 'tap';
import type { FanOutSettings, PassOutcome, TimelinesStore } from '../src/persistence/timelines/store.ts';
import type { AccountsService } from '../src/services/accounts/index.ts';
import type { SocialService } from '../src/services/social/index.ts';
import { HomeTimelines, sweepSlice } from '../src/services/timelines/timelines-service.ts';
import type { TimelinesSettings } from '../src/services/timelines/model.ts';
import { TIMELINES_SETTINGS } from './helpers/timelines-settings.ts';

const SETTINGS: TimelinesSettings = { ...TIMELINES_SETTINGS, sweepIntervalMs: 5000 };

t.test('a slice is sized by the time since the last one; after a sweep interval or more, the whole grace window', async (t) => {
  const whole = { fromAgeMs: 2000, toAgeMs: 60_000 };
  t.same(sweepSlice(2000, Number.POSITIVE_INFINITY, SETTINGS), whole, 'the first pass: all of it');
  t.same(sweepSlice(30_000, 5000, SETTINGS), whole, 'a sweep interval since the last: all of it, wherever the last stopped');
  t.same(sweepSlice(30_000, 12_000, SETTINGS), whole);
  t.same(sweepSlice(2000, 100, SETTINGS), { fromAgeMs: 2000, toAgeMs: 3160 }, '100 ms of a 5 s interval: a fiftieth of the 58 s');
  t.same(sweepSlice(10_000, 500, SETTINGS), { fromAgeMs: 10_000, toAgeMs: 15_800 }, 'from where the last stopped');
  t.same(sweepSlice(59_000, 500, SETTINGS), { fromAgeMs: 59_000, toAgeMs: 60_000 }, 'never past the grace window');
  t.same(sweepSlice(0, 100, SETTINGS), { fromAgeMs: 2000, toAgeMs: 3160 }, 'never within the window, which every pass reads');
  t.same(sweepSlice(2000, 0, SETTINGS), { fromAgeMs: 2000, toAgeMs: 2001 }, 'at least a millisecond');
  t.same(sweepSlice(2000, -5, SETTINGS), { fromAgeMs: 2000, toAgeMs: 2001 }, 'a clock that went back counts as no time');
});

/** A small seeded generator, so that a failure can be replayed. */
function generator(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Passes at uneven intervals (10–400 ms, and with `pauses` now and then one of 1–7 s), each with
 * the slice the service would take, and posts created at random times that commit up to ~45 s
 * later: for each post, the first pass at or after its commit that reads it, in its window or in
 * its slice (by creation time, as the pass's statement does).
 */
function simulate(t: Test, seed: number, pauses: boolean) {
  const random = generator(seed);
  const passes: { at: number; from: number; to: number }[] = [];
  const widths: { elapsed: number; width: number }[] = [];
  let front = SETTINGS.windowMs;
  let sweptAt = Number.NEGATIVE_INFINITY;
  let at = 0;
  let longestGap = 0;
  for (let i = 0; i < 20_000; i++) {
    const gap = pauses && random() < 0.005 ? 1000 + random() * 6000 : 10 + random() * 390;
    at += gap;
    longestGap = Math.max(longestGap, gap);
    const slice = sweepSlice(front, at - sweptAt, SETTINGS);
    passes.push({ at, from: at - SETTINGS.windowMs, to: at });
    passes.push({ at, from: at - slice.toAgeMs, to: at - slice.fromAgeMs });
    widths.push({ elapsed: at - sweptAt, width: slice.toAgeMs - slice.fromAgeMs });
    front = slice.toAgeMs >= SETTINGS.graceMs ? SETTINGS.windowMs : slice.toAgeMs;
    sweptAt = at;
  }
  // A post committed just after the slices passed its age waits for the rest of their round, then
  // for the next round to reach it (it has grown older meanwhile): at most
  // sweepIntervalMs × (1 + 1 / (speed - 1)), the slices moving through the ages at
  // speed = (graceMs - windowMs) / sweepIntervalMs = 11.6 times the clock's; and passes come
  // apart: the first after its commit, and the one whose slice reaches it, each up to a gap late.
  const speed = (SETTINGS.graceMs - SETTINGS.windowMs) / SETTINGS.sweepIntervalMs;
  const bound = SETTINGS.sweepIntervalMs * (1 + 1 / (speed - 1)) + 2 * longestGap;
  let worst = 0;
  for (let i = 0; i < 5000; i++) {
    const created = random() * (at - 60_000);
    const committed = created + random() * (SETTINGS.graceMs - bound - SETTINGS.windowMs);
    const seen = passes.find((p) => p.at >= committed && p.from < created && created <= p.to);
    if (!seen) {
      t.fail(`a post created at ${created.toFixed(1)} and committed at ${committed.toFixed(1)} was never read`);
      return;
    }
    worst = Math.max(worst, seen.at - committed);
  }
  t.pass('each of 5,000 posts was read by a pass after its commit');
  t.ok(worst <= bound, `within ${worst.toFixed(0)} ms of its commit (at most ${bound.toFixed(0)}: about the sweep interval, and twice the longest gap between passes)`);
  const parts = widths.filter(({ width }) => width < SETTINGS.graceMs - SETTINGS.windowMs);
  t.ok(parts.length > widths.length * 0.9, `most passes read a slice, not the whole grace window (${parts.length} of ${widths.length})`);
  t.ok(
    widths.every(({ elapsed, width }) => width <= Math.ceil(speed * elapsed) + 1 || elapsed >= SETTINGS.sweepIntervalMs),
    'each slice as wide as the time since the last pass calls for (all of the grace window after a sweep interval)',
  );
}

t.test('every post that commits late is read within about one sweep interval of its commit, while in the grace window', async (t) => {
  t.test('passes 10–400 ms apart', async (t) => simulate(t, 20261207, false));
  t.test('and now and then a pause of 1–7 s', async (t) => simulate(t, 7122026, true));
});

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
    async forgetHandled(windowMs: number) {
      if (windowMs !== SETTINGS.graceMs) throw new Error(`forgot within the grace window: ${windowMs}`);
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

t.test('each pass reads its window and the next slice; the slices follow one another and start again at the window', async (t) => {
  const { timelines, passes, forgotten } = setup();
  await timelines.fanOut({});
  t.same(passes[0], { batch: 2000, windowMs: 2000, slice: { fromAgeMs: 2000, toAgeMs: 60_000 }, wideFriends: 2000, length: 400 }, 'the first pass: the window, and all of the grace window behind it');
  t.equal(forgotten(), 1, 'a round of slices done: what was handled before the grace window is forgotten');
  for (let i = 0; i < 5; i++) {
    await sleep(20);
    await timelines.fanOut({});
  }
  t.ok(passes.slice(1).every((p) => p.windowMs === 2000 && p.slice !== undefined), 'each with its window of 2 s, and a slice');
  const slices = passes.slice(1).map((p) => p.slice!);
  t.equal(slices[0]!.fromAgeMs, 2000, 'the next slice starts at the window again');
  for (let i = 1; i < slices.length; i++) t.equal(slices[i]!.fromAgeMs, slices[i - 1]!.toAgeMs, `slice ${i + 1} starts where slice ${i} ended`);
  t.ok(slices.every((s) => s.toAgeMs - s.fromAgeMs < 58_000 / 2), `each a part of the grace window (${slices.map((s) => s.toAgeMs - s.fromAgeMs).join(', ')} ms)`);
  t.equal(forgotten(), 1, 'nothing forgotten until a round is done');
});

t.test('a full pass, and passes that are behind, read the whole grace window as their window', async (t) => {
  const { timelines, passes, forgotten, set } = setup();
  await timelines.fanOut({ full: true });
  t.equal(passes[0]!.windowMs, 60_000);
  t.equal(passes[0]!.slice, undefined, 'no slice besides');
  t.equal(forgotten(), 1);
  await timelines.fanOut({ full: true });
  t.equal(forgotten(), 2, 'a full pass forgets what it may, whenever it runs');
  set({ caughtUp: false });
  await timelines.fanOut({});
  t.equal(passes[2]!.windowMs, 2000, 'a pass that finds a full batch…');
  await timelines.fanOut({});
  await timelines.fanOut({});
  t.same(passes.slice(3).map((p) => [p.windowMs, p.slice]), [[60_000, undefined], [60_000, undefined]], '…makes the next ones read the whole grace window, until…');
  t.equal(forgotten(), 2, 'forgetting at most once a sweep interval meanwhile');
  set({ caughtUp: true });
  await timelines.fanOut({});
  await timelines.fanOut({});
  t.equal(passes[5]!.windowMs, 60_000);
  t.equal(passes[6]!.windowMs, 2000, '…one catches up');
  t.equal(passes[6]!.slice!.fromAgeMs, 2000, 'and the slices start again at the window');
});

t.test('a pass that did not get the lock leaves the slices where they were', async (t) => {
  const { timelines, passes, forgotten, set } = setup();
  await timelines.fanOut({});
  await sleep(30);
  await timelines.fanOut({});
  const held = passes[1]!.slice!;
  set({ ran: false });
  await sleep(30);
  await timelines.fanOut({});
  t.equal(passes[2]!.slice!.fromAgeMs, held.toAgeMs, 'it would have read the next slice');
  set({ ran: true });
  await sleep(30);
  await timelines.fanOut({});
  t.equal(passes[3]!.slice!.fromAgeMs, held.toAgeMs, 'which the next pass that runs reads');
  t.ok(passes[3]!.slice!.toAgeMs - held.toAgeMs > passes[2]!.slice!.toAgeMs - held.toAgeMs, 'sized by the time since the last pass that ran');
  t.equal(forgotten(), 1);
});
