// The order a batch of jobs runs in (inKeyOrder, src/jobs/queue.ts), the jobs of a batch run
// together (togetherRuns), the spacing of a gathering worker's wake-ups (Spacer), and the keys the
// domain events give their jobs (DomainEvents' consumers' orderKey, src/services/events.ts).
import t from 'tap';
import { inKeyOrder, Spacer, togetherRuns } from '../src/jobs/queue.ts';
import { DomainEvents } from '../src/services/events.ts';

const job = (name: string, order?: string, createdOn?: Date) => ({ name, data: order === undefined ? {} : { order }, createdOn });
const names = (jobs: { name: string }[]) => jobs.map((j) => j.name);

t.test("a batch runs in its keys' order: jobs without a key first, equal keys as enqueued, then as fetched", async (t) => {
  const fetched = [job('c', 'k3'), job('a1', 'k1'), job('none1'), job('a2', 'k1'), job('b', 'k2'), job('none2')];
  const key = (data: Record<string, unknown>) => data.order as string | undefined;
  t.same(names(inKeyOrder(fetched, key)), ['none1', 'none2', 'a1', 'a2', 'b', 'c']);
  t.same(names(inKeyOrder(fetched, undefined)), names(fetched), 'without orderKey or times: as fetched');
  t.same(names(fetched), ['c', 'a1', 'none1', 'a2', 'b', 'none2'], 'the batch itself is left as it was');
  const at = (ms: number) => new Date(1_796_000_000_000 + ms);
  // pg-boss answers a fetch in no set order: its jobs' times order those of one key, or of none.
  const timed = [job('later', undefined, at(2)), job('k-later', 'k', at(5)), job('earlier', undefined, at(1)), job('k-earlier', 'k', at(4)), job('same-time-2', undefined, at(3)), job('same-time-1', undefined, at(3))];
  t.same(names(inKeyOrder(timed, key)), ['earlier', 'later', 'same-time-2', 'same-time-1', 'k-earlier', 'k-later']);
  t.same(names(inKeyOrder(timed, undefined)), ['earlier', 'later', 'same-time-2', 'same-time-1', 'k-earlier', 'k-later'], 'without orderKey, by their times too');
});

t.test("a durable consumer's order key is the one its event was consumed with, none for the others", async (t) => {
  const events = new DomainEvents();
  events.consume('message.sent', 'notifications', async () => {}, { orderKey: (e) => `${e.conversationId}/${e.messageId}` });
  events.consume('post.deleted', 'notifications', async () => {});
  const [consumer] = events.consumers;
  t.equal(consumer!.orderKey('message.sent', { conversationId: 'c1', messageId: 'm1', authorId: 'a', recipientIds: [] }), 'c1/m1');
  t.equal(consumer!.orderKey('post.deleted', { postId: 'p' }), undefined);
  t.equal(consumer!.orderKey('no.such.event', {}), undefined);
});

t.test('a batch in runs: adjacent jobs with the same together key, each job without one alone', async (t) => {
  const jobs = [job('n1'), job('m1', 'm'), job('m2', 'm'), job('p1', 'p'), job('m3', 'm'), job('n2'), job('n3')];
  const runs = togetherRuns(jobs, { togetherKey: (data) => data.order as string | undefined });
  t.same(runs.map(names), [['n1'], ['m1', 'm2'], ['p1'], ['m3'], ['n2'], ['n3']]);
  t.same(togetherRuns(jobs, {}).map(names), jobs.map((j) => [j.name]), 'without togetherKey: each alone');
  t.same(togetherRuns([], {}), []);
});

t.test('a spacer wakes at once after a quiet spell, then at most once an interval however often it is asked; now() wakes at once', async (t) => {
  // A clock and timers of the test's own, moved by hand.
  let clock = 1000;
  let pending: { at: number; run: () => void }[] = [];
  const timers = {
    now: () => clock,
    after: (ms: number, run: () => void) => {
      const timer = { at: clock + ms, run };
      pending.push(timer);
      return timer;
    },
    cancel: (timer: unknown) => void (pending = pending.filter((p) => p !== timer)),
  };
  const advance = (ms: number) => {
    clock += ms;
    const due = pending.filter((p) => p.at <= clock);
    pending = pending.filter((p) => p.at > clock);
    for (const timer of due) timer.run();
  };
  let wakes = 0;
  const spacer = new Spacer(40, () => void wakes++, timers);
  spacer.request();
  t.equal(wakes, 1, 'the first request wakes at once');
  advance(10);
  spacer.request();
  spacer.request();
  spacer.request();
  t.equal(wakes, 1, 'requests within the interval wait');
  t.same(pending.map((p) => p.at), [1040], 'one wake-up pending, an interval after the last');
  advance(29);
  t.equal(wakes, 1, 'not before the interval has passed');
  advance(1);
  t.equal(wakes, 2, 'then one wake-up for all of them');
  advance(100);
  spacer.request();
  t.equal(wakes, 3, 'a request after a quiet spell wakes at once again');
  spacer.request();
  spacer.now();
  t.equal(wakes, 4, 'now() wakes at once, and takes the pending one with it');
  t.same(pending, [], 'nothing was left pending');
  spacer.request();
  spacer.stop();
  advance(100);
  t.equal(wakes, 4, 'stopped: what was pending does not wake');
});
