// In-process domain events (src/services/events.ts), without a server: listeners run in the
// order they were added and are awaited; a failing one does not stop the others.
import t from 'tap';
import { DomainEvents } from '../src/services/events.ts';

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
