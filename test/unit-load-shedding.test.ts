// The start-up rule of load shedding (src/http/plugins/load-shedding.ts): the event loop's lag
// measured while the server was being built, or in the sample that still covers it, sheds nothing.
import t from 'tap';
import { SAMPLE_INTERVAL_MS, lagFromStartUp } from '../src/http/plugins/load-shedding.ts';

t.test('a lag read before the server is ready, or within two samples of it, sheds nothing', async (t) => {
  t.equal(lagFromStartUp('eventLoopDelay', undefined), true, 'not ready yet');
  t.equal(lagFromStartUp('eventLoopDelay', 0), true, 'just ready');
  t.equal(lagFromStartUp('eventLoopDelay', 2 * SAMPLE_INTERVAL_MS - 1), true, 'the sample may still cover the build');
  t.equal(lagFromStartUp('eventLoopDelay', 2 * SAMPLE_INTERVAL_MS), false, 'then the lag counts');
  t.equal(lagFromStartUp('eventLoopDelay', 60_000), false);
});

t.test('memory never gets that grace', async (t) => {
  for (const type of ['heapUsedBytes', 'rssBytes', 'eventLoopUtilization']) {
    t.equal(lagFromStartUp(type, undefined), false, type);
    t.equal(lagFromStartUp(type, 0), false, type);
  }
});
