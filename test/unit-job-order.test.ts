// The order a batch of jobs runs in (inKeyOrder, src/jobs/queue.ts) and the keys the domain events
// give their jobs (DomainEvents' consumers' orderKey, src/services/events.ts).
import t from 'tap';
import { inKeyOrder } from '../src/jobs/queue.ts';
import { DomainEvents } from '../src/services/events.ts';

const job = (name: string, order?: string) => ({ name, data: order === undefined ? {} : { order } });
const names = (jobs: { name: string }[]) => jobs.map((j) => j.name);

t.test("a batch runs in its keys' order: jobs without a key first, equal keys as fetched", async (t) => {
  const fetched = [job('c', 'k3'), job('a1', 'k1'), job('none1'), job('a2', 'k1'), job('b', 'k2'), job('none2')];
  const key = (data: Record<string, unknown>) => data.order as string | undefined;
  t.same(names(inKeyOrder(fetched, key)), ['none1', 'none2', 'a1', 'a2', 'b', 'c']);
  t.same(names(inKeyOrder(fetched, undefined)), names(fetched), 'without orderKey: as fetched');
  t.same(names(fetched), ['c', 'a1', 'none1', 'a2', 'b', 'none2'], 'the batch itself is left as it was');
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
