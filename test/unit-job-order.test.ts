// The order a batch of jobs runs in (inKeyOrder, src/jobs/queue.ts) and the keys the domain events
// give their jobs (DomainEvents' consumers' orderKey, src/services/events.ts).
import t from 'tap';
import { inKeyOrder } from '../src/jobs/queue.ts';
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
