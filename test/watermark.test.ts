// The staleness bound's arithmetic, on a clock the test moves (src/persistence/watermark.ts).
import t from 'tap';
import { Watermark } from '../src/persistence/watermark.ts';

function clocked(maxStalenessMs: number) {
  let now = 10_000;
  const watermark = new Watermark(maxStalenessMs, () => now);
  return { watermark, at: (ms: number) => void (now = ms) };
}

t.test('nothing is fresh until a probe has come back', async (t) => {
  const { watermark } = clocked(1000);
  t.equal(watermark.fresh, false);
});

t.test('a probe sent at T makes the caches fresh until T + the bound, not a moment longer', async (t) => {
  const { watermark, at } = clocked(1000);
  watermark.advance(10_000);
  at(10_400);
  t.equal(watermark.fresh, true, 'its echo came back 400 ms later');
  at(11_000);
  t.equal(watermark.fresh, true, 'exactly the bound after it was sent');
  at(11_001);
  t.equal(watermark.fresh, false, 'past the bound: a change committed just after T may not have been applied');
  t.equal(watermark.lagSeconds, 1.001);
});

t.test('an echo of an older probe never moves the watermark back', async (t) => {
  const { watermark, at } = clocked(1000);
  watermark.advance(10_500);
  watermark.advance(10_200);
  at(11_400);
  t.equal(watermark.fresh, true);
  t.equal(watermark.lagSeconds, 0.9);
});

t.test('after a reset (the connection dropped) nothing is fresh until a new probe is back; the lag keeps counting', async (t) => {
  const { watermark, at } = clocked(1000);
  watermark.advance(10_000);
  at(10_100);
  watermark.reset();
  t.equal(watermark.fresh, false);
  at(12_000);
  t.equal(watermark.lagSeconds, 2, 'from the last moment known to be applied');
  watermark.advance(11_900);
  t.equal(watermark.fresh, true);
  t.equal(watermark.lagSeconds, 0.1);
});

t.test('the lag counts from the watermark’s creation before any probe is back', async (t) => {
  const { watermark, at } = clocked(1000);
  at(13_500);
  t.equal(watermark.lagSeconds, 3.5);
});
