// Domain events (src/services/events.ts), without a server. In-process: listeners run in the
// order they were added and are awaited; a failing one does not stop the others. Durable:
// `publish` enqueues one job per consuming domain in the given unit of work, and the consumers
// run the handler of the job's event. Clean-ups are both, and one that fails in process is left
// to its job; `publishing` commits a deletion with its clean-ups' jobs.
import t from 'tap';
import { ServiceUnavailable } from '../src/services/errors.ts';
import { DomainEvents, publishing } from '../src/services/events.ts';

t.test('emit awaits every listener of the event, in order, and none of another event', async (t) => {
  const events = new DomainEvents();
  const seen: string[] = [];
  events.on('account.closed', async ({ accountId }) => {
    await new Promise((resolve) => setImmediate(resolve));
    seen.push(`first ${accountId}`);
  });
  events.on('account.closed', ({ accountId }) => void seen.push(`second ${accountId}`));
  events.on('channels.deleted', ({ channelIds }) => void seen.push(`channels ${channelIds.join(',')}`));
  await events.emit('account.closed', { accountId: 'a1' });
  t.same(seen, ['first a1', 'second a1'], 'the slow first listener finished before the second began');
  await events.emit('channels.deleted', { channelIds: ['c1', 'c2'] });
  t.same(seen, ['first a1', 'second a1', 'channels c1,c2']);
});

t.test('an event nobody listens to is a no-op', async (t) => {
  await t.resolves(new DomainEvents().emit('account.closed', { accountId: 'a1' }));
});

t.test('failing listeners do not stop the others; emit then throws all their errors together', async (t) => {
  const events = new DomainEvents();
  const ran: number[] = [];
  const sync = new Error('sync failure');
  const rejected = new Error('async failure');
  events.on('account.closed', () => {
    ran.push(1);
    throw sync;
  });
  events.on('account.closed', () => void ran.push(2));
  events.on('account.closed', async () => {
    ran.push(3);
    throw rejected;
  });
  events.on('account.closed', () => void ran.push(4));
  try {
    await events.emit('account.closed', { accountId: 'a1' });
    t.fail('did not throw');
  } catch (error) {
    t.type(error, AggregateError);
    t.equal((error as AggregateError).message, '2 listener(s) of account.closed failed');
    t.same((error as AggregateError).errors, [sync, rejected]);
  }
  t.same(ran, [1, 2, 3, 4]);
});

t.test('one failing listener: its own error; an unreachable domain among several: that one (the request answers 503, not 500)', async (t) => {
  const alone = new DomainEvents();
  const only = new Error('only failure');
  alone.on('account.closed', () => {
    throw only;
  });
  await t.rejects(alone.emit('account.closed', { accountId: 'a1' }), only);

  const several = new DomainEvents();
  const down = new ServiceUnavailable('notifications', 'unreachable', 5);
  let ran = 0;
  several.on('account.closed', () => {
    ran++;
    throw new Error('another failure');
  });
  several.on('account.closed', async () => {
    ran++;
    throw down;
  });
  several.on('account.closed', () => void ran++);
  await t.rejects(several.emit('account.closed', { accountId: 'a1' }), down);
  t.equal(ran, 3, 'every listener ran all the same');
});

const uow = { transaction: true as const, query: async () => [] };
const published = { postId: 'p1', authorId: 'a1', channelId: null, text: 'hi', createdAt: '2026-12-02T00:00:00.000Z' };

t.test('publish enqueues, in the unit of work given, one job per consuming domain of the event', async (t) => {
  const events = new DomainEvents();
  events.consume('post.published', 'notifications', async () => {});
  events.consume('post.published', 'search', async () => {});
  events.consume('message.sent', 'notifications', async () => {});
  const sent: unknown[][] = [];
  events.attach(async (into, queue, job) => void sent.push([into, queue, job]));
  await events.publish('post.published', published, uow);
  t.same(sent, [
    [uow, 'events.notifications', { event: 'post.published', payload: published }],
    [uow, 'events.search', { event: 'post.published', payload: published }],
  ]);
  sent.length = 0;
  await events.publish('friendRequest.created', { requestId: 'r', senderId: 's', recipientId: 'x' }, uow);
  t.same(sent, [], 'an event no domain consumes enqueues nothing');
});

t.test('a consumer that says which publications concern it gets jobs for those only; concerns() tells a writer whether to open a unit of work', async (t) => {
  const events = new DomainEvents();
  events.consume('post.published', 'notifications', async () => {}, { when: (post) => post.channelId !== null || post.text.includes('@') });
  const sent: unknown[] = [];
  events.attach(async (_into, _queue, job) => void sent.push(job));
  const quiet = { ...published, text: 'nobody named' };
  const mention = { ...published, text: 'hello @someone' };
  const channel = { ...published, text: 'nobody named', channelId: 'c1' };
  t.notOk(events.concerns('post.published', quiet), 'a post mentioning nobody outside a channel concerns nobody');
  t.ok(events.concerns('post.published', mention));
  t.ok(events.concerns('post.published', channel));
  await events.publish('post.published', quiet, uow);
  t.same(sent, [], 'and enqueues nothing');
  await events.publish('post.published', mention, uow);
  await events.publish('post.published', channel, uow);
  t.same(sent, [{ event: 'post.published', payload: mention }, { event: 'post.published', payload: channel }]);
  events.withoutQueue();
  t.notOk(events.concerns('post.published', mention), 'a process without a job queue publishes nothing');
});

t.test('publish refuses before the job queue is attached, and enqueues nothing for a process without one', async (t) => {
  const events = new DomainEvents();
  events.consume('post.published', 'notifications', async () => {});
  await t.rejects(events.publish('post.published', published, uow), /published before the job queue was attached/);
  events.withoutQueue();
  await t.resolves(events.publish('post.published', published, uow));
});

t.test("a consumer runs the handler of its job's event in the job's unit of work; an event it does not consume fails the job", async (t) => {
  const events = new DomainEvents();
  const seen: unknown[] = [];
  events.consume('post.published', 'notifications', async (payload, into) => void seen.push(['post', payload, into]));
  events.consume('message.sent', 'notifications', async (payload) => void seen.push(['message', payload]));
  t.throws(() => events.consume('message.sent', 'notifications', async () => {}), /notifications already consumes message.sent/);
  const [consumer, ...others] = events.consumers;
  t.same(others, []);
  t.match(consumer, { consumer: 'notifications', queue: 'events.notifications', events: ['post.published', 'message.sent'] });
  await consumer!.handle('post.published', published, uow);
  t.same(seen, [['post', published, uow]]);
  await t.rejects(consumer!.handle('account.closed', { accountId: 'a' }, uow), /notifications does not consume account.closed/);
});

t.test('a consumer that takes several publications at once (many): its handler gets them in order, in the unit of work; the others are run one at a time', async (t) => {
  const events = new DomainEvents();
  const seen: unknown[] = [];
  const message = (n: number) => ({ conversationId: 'c', messageId: `m${n}`, authorId: 'a', recipientIds: ['b'] });
  events.consume('post.published', 'notifications', async (payload) => void seen.push(['post', payload]));
  events.consume('message.sent', 'notifications', async (payload) => void seen.push(['one', payload]), {
    many: async (payloads, into) => void seen.push(['many', payloads, into]),
  });
  const [consumer] = events.consumers;
  t.equal(consumer!.handlesMany('message.sent'), true);
  t.equal(consumer!.handlesMany('post.published'), false, 'an event consumed without `many`');
  t.equal(consumer!.handlesMany('account.closed'), false, 'an event not consumed');
  await consumer!.handleMany('message.sent', [message(1), message(2)], uow);
  t.same(seen, [['many', [message(1), message(2)], uow]], 'the publications together, in the order given');
  await t.rejects(consumer!.handleMany('post.published', [published], uow), /notifications does not consume post.published several at once/);
});

t.test('a clean-up is an in-process listener and a durable consumer of its domain, in the order it was added', async (t) => {
  const events = new DomainEvents();
  const ran: string[] = [];
  events.on('account.closed', ({ accountId }) => void ran.push(`cache ${accountId}`));
  events.cleanUp('account.closed', 'posts', async ({ accountId }) => void ran.push(`posts ${accountId}`));
  events.cleanUp('channels.deleted', 'posts', async ({ channelIds }) => void ran.push(`posts of ${channelIds.join(',')}`));
  events.attach(async () => {});
  await events.emit('account.closed', { accountId: 'a1' });
  t.same(ran, ['cache a1', 'posts a1'], 'emitted: done in process');
  const [consumer, ...others] = events.consumers;
  t.same(others, []);
  t.match(consumer, { consumer: 'posts', queue: 'events.posts', events: ['account.closed', 'channels.deleted'] });
  await consumer!.handle('channels.deleted', { channelIds: ['c1', 'c2'] }, uow);
  t.same(ran, ['cache a1', 'posts a1', 'posts of c1,c2'], "and its job's handler does it again");
  t.ok(events.publishes('account.closed'), 'a deletion publishes the event: its job is enqueued');
  t.notOk(events.publishes('post.deleted'), 'an event nobody consumes durably enqueues nothing');
});

t.test("a clean-up that fails in process is left to its job (reported, not thrown); other listeners' failures still throw", async (t) => {
  const events = new DomainEvents();
  const down = new ServiceUnavailable('notifications', 'unreachable', 5);
  const ran: string[] = [];
  events.cleanUp('post.deleted', 'notifications', async () => {
    ran.push('notifications');
    throw down;
  });
  events.on('post.deleted', () => void ran.push('cache'));
  const deferred: unknown[][] = [];
  events.onDeferred((event, consumer, error) => void deferred.push([event, consumer, error]));
  events.attach(async () => {});
  await t.resolves(events.emit('post.deleted', { postId: 'p1', authorId: 'a1', channelId: null }), 'the deletion answers as done');
  t.same(ran, ['notifications', 'cache'], 'every listener ran');
  t.same(deferred, [['post.deleted', 'notifications', down]], 'the failure is reported with its event and consuming domain');

  const failing = new Error('cache failure');
  events.on('post.deleted', () => {
    throw failing;
  });
  await t.rejects(events.emit('post.deleted', { postId: 'p2', authorId: 'a1', channelId: null }), failing, 'a listener without a job: thrown as before');
  t.equal(deferred.length, 2, 'the clean-up was reported again');
});

t.test('without a job queue, nothing would redo a clean-up: its failure is thrown', async (t) => {
  const events = new DomainEvents();
  const down = new ServiceUnavailable('notifications', 'unreachable', 5);
  events.cleanUp('post.deleted', 'notifications', async () => {
    throw down;
  });
  const deferred: unknown[] = [];
  events.onDeferred((...args) => void deferred.push(args));
  events.withoutQueue();
  await t.rejects(events.emit('post.deleted', { postId: 'p1', authorId: 'a1', channelId: null }), down);
  t.same(deferred, []);
  t.notOk(events.publishes('post.deleted'), 'and a deletion enqueues nothing');
});

t.test('publishing: a deletion and its clean-ups\' jobs in one unit of work; alone when nothing is enqueued', async (t) => {
  const events = new DomainEvents();
  events.cleanUp('account.closed', 'posts', async () => {});
  events.cleanUp('account.closed', 'social', async () => {});
  const sent: unknown[][] = [];
  events.attach(async (into, queue, job) => void sent.push([into, queue, job]));
  const steps: unknown[] = [];
  const begin = async <T>(work: (into: typeof uow) => Promise<T>) => {
    steps.push('begin');
    const result = await work(uow);
    steps.push('commit');
    return result;
  };
  const done = await publishing(
    events,
    'account.closed',
    async (into) => {
      steps.push(['write', into]);
      return { kind: 'done' as const };
    },
    (outcome) => (outcome.kind === 'done' ? { accountId: 'a1' } : null),
    begin,
  );
  t.same(done, { kind: 'done' }, 'what the write returned');
  t.same(steps, ['begin', ['write', uow], 'commit'], 'the write ran in the unit of work begun for it');
  t.same(sent, [
    [uow, 'events.posts', { event: 'account.closed', payload: { accountId: 'a1' } }],
    [uow, 'events.social', { event: 'account.closed', payload: { accountId: 'a1' } }],
  ], 'one job per consuming domain, in the same unit of work, before it commits');

  sent.length = 0;
  steps.length = 0;
  await publishing(events, 'account.closed', async (into) => void steps.push(['write', into]), () => null, begin);
  t.same(sent, [], 'a write that deleted nothing enqueues nothing');

  steps.length = 0;
  const quiet = new DomainEvents();
  quiet.attach(async () => {});
  await publishing(quiet, 'account.closed', async (into) => void steps.push(['write', into]), () => ({ accountId: 'a1' }), begin);
  t.same(steps, [['write', undefined]], 'an event with no durable consumer: the write alone, without a transaction');
  steps.length = 0;
  await publishing(undefined, 'account.closed', async (into) => void steps.push(['write', into]), () => ({ accountId: 'a1' }), begin);
  t.same(steps, [['write', undefined]], 'and without domain events at all');
});
