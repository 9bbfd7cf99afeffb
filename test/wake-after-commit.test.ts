// A message's wake-ups go after its commit, not from its transaction (src/persistence/notices.ts):
// PostgreSQL commits the transactions that sent a NOTIFY one at a time, so every message sent
// waited for the others. Checked here from outside, through PostgreSQL: what a listener hears
// once a message is sent (its participants' streams woken, its notification job's queue woken),
// that the durable events' queues no longer notify from the insert, and that a worker polling
// only once a minute still runs the new job at once, on another instance, by the wake-up alone.
import pg from 'pg';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { v7 as uuidv7 } from 'uuid';
import { persistence } from '../src/domains/index.ts';
import { JOB_WAKE_CHANNEL } from '../src/jobs/queue.ts';
import { INVALIDATION_CHANNEL } from '../src/persistence/invalidations.ts';
import { MessagesStore } from '../src/persistence/messages/store.ts';
import { NOTICES_SQL } from '../src/persistence/notices.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { createDatabase } from '../src/persistence/sql.ts';
import { startAgora } from './helpers/agora.ts';
import { domainEventsSettled } from './helpers/jobs.ts';
import { eventually } from './helpers/locks.ts';
import { befriend } from './helpers/timelines.ts';

t.setTimeout(240_000);

// The API instance enqueues; a second instance, the only worker, polls once a minute: only a
// wake-up makes it fetch sooner.
const api = await startAgora(t, { WORKER: 'off' }, { jobs: true });
const worker = await startAgora(t, {}, { databaseUrl: api.databaseUrl, jobs: true, jobTuning: { pollingIntervalSeconds: 60, superviseIntervalSeconds: 60 } });

/** A client LISTENing on both channels, and what it has heard, in order. */
async function listener() {
  const client = new pg.Client({ connectionString: api.databaseUrl });
  await client.connect();
  t.teardown(() => client.end());
  const heard: { channel: string; payload: string; at: number }[] = [];
  client.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload ?? '', at: performance.now() }));
  await client.query(`listen ${INVALIDATION_CHANNEL}`);
  await client.query(`listen ${pg.escapeIdentifier(JOB_WAKE_CHANNEL)}`);
  return heard;
}

t.test("the durable events' queues do not notify from the enqueuing transaction", async (t) => {
  const rows = await api.sql("select name, notify from pgboss.queue where name like 'events.%' order by name");
  t.same(
    rows.map((r) => r.name),
    ['events.channels', 'events.messages', 'events.notifications', 'events.posts', 'events.social', 'events.timelines'],
    'every durable event queue',
  );
  t.ok(rows.every((r) => r.notify === false), `none with notify: ${JSON.stringify(rows)}`);
});

t.test("a message wakes its participants' streams and its job's workers once it has committed; the worker runs the job by that wake-up", async (t) => {
  const [ada, bob, cy] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);
  await befriend(ada, bob);
  await befriend(ada, cy);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id, cy.account.id] } }));
  // The worker's first poll after its start has come and gone: the next is a minute away.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const heard = await listener();

  const sentAt = performance.now();
  const message = await unwrap(
    ada.client.POST('/conversations/{conversationId}/messages', {
      params: { path: { conversationId: conversation.id }, header: { 'Idempotency-Key': `wake-${ada.account.id}` } },
      body: { text: 'hello, both' },
    }),
  );
  const stored = await api.sql('select count(*)::int as n from messages.message where id = $1', [message.id]);
  t.equal(stored[0]!.n, 1, 'the message is stored');

  // One payload wakes the message's participants (the notifications' job, which wakes its
  // recipients' streams again from its own transaction, sends others).
  const everyone = [ada, bob, cy].map((p) => p.account.id).toSorted();
  const wake = await eventually(
    "the participants' streams woken",
    async () => heard.find((h) => h.channel === INVALIDATION_CHANNEL && h.payload.startsWith('w:') && h.payload.includes(ada.account.id)),
    20_000,
  );
  t.same(wake.payload.slice(2).split(',').toSorted(), everyone, 'every participant, the author too, and nobody else');
  await eventually(
    "the notifications' workers woken",
    async () => (heard.some((h) => h.channel === JOB_WAKE_CHANNEL && h.payload === 'events.notifications') ? true : undefined),
    20_000,
  );

  // The worker fetches at the wake-up, not at its next poll a minute on.
  const notified = await eventually(
    "bob's notification of the message",
    async () => {
      const { data } = await unwrap(bob.client.GET('/notifications', { params: { query: { limit: 10 } } }));
      return data.find((n) => n.type === 'messageReceived') ? performance.now() : undefined;
    },
    45_000,
  );
  t.ok(notified - sentAt < 30_000, `the job ran ${Math.round(notified - sentAt)} ms after the send, well before the worker's next poll`);
  t.equal(worker.logs.filter((line) => line.level >= 50).length, 0, 'the worker logged no error');
});

t.test("a message's wake-up is sent once its transaction commits, and never when it rolls back", async (t) => {
  const [ada, bob] = await Promise.all([api.signUp(), api.signUp()]);
  await befriend(ada, bob);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  // The friendship's notifications made (their jobs wake their recipients' streams too).
  await domainEventsSettled((text) => api.sql(text));
  const statements: string[] = [];
  const orm = await openDatabase({ clientUrl: api.databaseUrl, persistence, poolMax: 2, onQuery: (sql) => void statements.push(sql) });
  t.teardown(() => orm.close(true));
  // Its connection of its own for the notifications is down (it answers undefined), then fails
  // under the statement: the pool's connections send them either way.
  let asked = 0;
  let broken = false;
  const db = createDatabase(orm, {
    noticesVia: async () => {
      asked++;
      if (broken) throw new Error('Connection terminated unexpectedly');
    },
  });
  const store = new MessagesStore(db);
  const heard = await listener();
  const row = (text: string) => ({ id: uuidv7(), conversationId: conversation.id, authorId: ada.account.id, text, createdAt: new Date() });
  const woken = () => heard.filter((h) => h.payload.startsWith('w:'));

  // Held open after the write: nothing is sent before the commit.
  let commit!: () => void;
  const held = new Promise<void>((resolve) => (commit = resolve));
  const written = db.transaction(async (uow) => {
    await store.insertMessage(row('committed'), uow);
    await held;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await api.sql('select pg_notify($1, $2)', [INVALIDATION_CHANNEL, 'probe:open']);
  await eventually('the probe heard', async () => (heard.some((h) => h.payload === 'probe:open') ? true : undefined), 20_000);
  t.same(woken(), [], 'no wake-up while the transaction is open');
  commit();
  await written;
  await db.notices.settled();
  await eventually('the wake-up after the commit', async () => (woken().length > 0 ? true : undefined), 20_000);
  t.same(woken().map((h) => h.payload.slice(2).split(',').toSorted()), [[ada.account.id, bob.account.id].toSorted()], 'one wake-up, of both participants');
  t.equal(asked, 1, 'its own connection was asked first');
  t.equal(statements.filter((sql) => sql === NOTICES_SQL).length, 1, 'then the pool sent it');

  // Its own connection fails under the statement: the pool sends it.
  heard.length = 0;
  broken = true;
  await db.transaction((uow) => store.insertMessage(row('committed, its connection broken'), uow));
  await db.notices.settled();
  await eventually('the wake-up through the pool', async () => (woken().length > 0 ? true : undefined), 20_000);
  t.same(woken().map((h) => h.payload.slice(2).split(',').toSorted()), [[ada.account.id, bob.account.id].toSorted()], 'the wake-up is sent all the same');
  t.equal(asked, 2, 'its own connection was asked first');
  t.equal(statements.filter((sql) => sql === NOTICES_SQL).length, 2, 'and the pool sent it when that failed');

  heard.length = 0;
  await t.rejects(
    db.transaction(async (uow) => {
      await store.insertMessage(row('rolled back'), uow);
      throw new Error('the work fails after its write');
    }),
    /the work fails after its write/,
  );
  await db.notices.settled();
  await api.sql('select pg_notify($1, $2)', [INVALIDATION_CHANNEL, 'probe:end']);
  await eventually('the probe heard', async () => (heard.some((h) => h.payload === 'probe:end') ? true : undefined), 20_000);
  t.same(woken(), [], 'no wake-up for a message that rolled back');
  const stored = await api.sql('select text from messages.message where conversation_id = $1 order by id', [conversation.id]);
  t.same(stored.map((r) => r.text), ['committed', 'committed, its connection broken'], 'only the committed messages are stored');
});
