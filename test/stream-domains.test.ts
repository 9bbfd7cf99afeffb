// The live stream over the real sources, across three instances on one database: a friend
// request made on one notifies its recipient once, live on a stream held on a third; a message
// sent four times with one Idempotency-Key over the instances is stored and streamed once, to
// every participant and to nobody else; a stream that drops and reconnects elsewhere with
// Last-Event-ID gets exactly the events it missed. Notifications may be made in the request or
// by a job (the queue runs on every instance), so the waits are generous.
import t from 'tap';
import { unwrap, type AgoraClient } from 'agora-sdk';
import { startAgora, type Agora } from './helpers/agora.ts';
import type { OpenStream } from './helpers/sse.ts';
import { domainEventsSettled } from './helpers/jobs.ts';
import { stream } from './helpers/stream-source.ts';

t.setTimeout(300_000);

/** How long a notification or message may take to reach a stream (a job may make it). */
const DELIVERY_MS = 20_000;
/** How long to keep watching for a duplicate after the awaited event arrived. */
const SETTLE_MS = 1500;

const a = await startAgora(t, {}, { jobs: true });
const b = await startAgora(t, {}, { databaseUrl: a.databaseUrl, jobs: true });
const c = await startAgora(t, {}, { databaseUrl: a.databaseUrl, jobs: true });

type Person = { client: AgoraClient; token: string; account: { id: string; handle: string } };

async function signUp(): Promise<Person> {
  return a.signUp();
}

/** The person's client on another instance (one token is valid on all). */
const on = (instance: Agora, who: Person) => instance.client(who.token);

async function befriend(x: Person, y: Person): Promise<void> {
  await unwrap(x.client.POST('/friend-requests', { body: { accountId: y.account.id } }));
  await unwrap(y.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: y.account.id, friendId: x.account.id } } }));
}

async function open(instance: Agora, who: Person, lastEventId?: string): Promise<OpenStream> {
  const s = await stream(instance, who.token, lastEventId);
  t.teardown(() => s.close());
  if (s.response.status !== 200) {
    const warnings = instance.logs.filter((line) => line.level >= 40).map((line) => line.msg);
    throw new Error(`GET /v1/stream answered ${s.response.status}: ${await s.response.text()}; the instance warned: ${JSON.stringify(warnings)}`);
  }
  await s.until('ready', () => s.events.length >= 1);
  return s;
}

const of = (s: OpenStream, type: string) => s.events.filter((e) => e.event === type);
const ids = (s: OpenStream, type: string) => of(s, type).map((e) => e.data.id as string);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Every domain event job enqueued so far has run, on whichever instance took it: its notifications are made. */
const settled = () => domainEventsSettled((text) => a.sql(text));

async function notifications(who: Person): Promise<{ id: string; type: string }[]> {
  return (await unwrap(who.client.GET('/notifications', { params: { query: { limit: 100 } } }))).data;
}

t.test('a friend request on one instance notifies its recipient once, live on a stream held on a third', async (t) => {
  const [ada, bob] = await Promise.all([signUp(), signUp()]);
  const bobs = await open(c, bob);
  const adas = await open(b, ada);

  const started = Date.now();
  const request = await unwrap(on(a, ada).POST('/friend-requests', { body: { accountId: bob.account.id } }));
  await bobs.until('the notification', () => of(bobs, 'notification').length >= 1, DELIVERY_MS);
  t.comment(`delivered ${Date.now() - started} ms after the request`);
  await pause(SETTLE_MS);

  const received = of(bobs, 'notification');
  t.equal(received.length, 1, 'once');
  t.match(received[0]!.data, { type: 'friendRequestReceived', friendRequestId: request.id, actor: { id: ada.account.id, handle: ada.account.handle } });
  t.same(received[0]!.data, (await notifications(bob))[0], 'the notification as GET /notifications lists it');
  t.same(of(adas, 'notification'), [], 'the sender is not told of its own request');
  t.same(bobs.violations, [], 'every event conforms to the contract');
});

t.test('a message sent four times with one Idempotency-Key over the instances is stored and streamed once, to its participants only', async (t) => {
  const [ada, bob, cy] = await Promise.all([signUp(), signUp(), signUp()]);
  await befriend(ada, bob);
  await befriend(ada, cy);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  // The friend requests' notifications are made (a job may make them a little after the
  // request), so that the streams opened next carry this message's events only.
  await settled();
  const bobs = await open(c, bob);
  const adas = await open(b, ada);
  const strangers = await open(c, cy);

  const before = await a.count('messages.message');
  const url = `/v1/conversations/${conversation.id}/messages`;
  const headers = { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json', 'idempotency-key': `stream-once-${ada.account.id}` };
  const body = JSON.stringify({ text: 'only once' });
  const send = async (instance: Agora) => {
    let answer = await instance.raw('POST', url, { headers, body });
    // A request that met the first still running gets 409 with Retry-After: retried, as a client would.
    while (answer.status === 409) {
      await pause(100);
      answer = await instance.raw('POST', url, { headers, body });
    }
    return answer;
  };
  const answers = await Promise.all([a, b, c, a].map(send));
  t.same(answers.map((r) => r.status), [201, 201, 201, 201]);
  const messageId = answers[0]!.json.id as string;
  t.equal(new Set(answers.map((r) => r.json.id)).size, 1, 'one message');
  t.equal(await a.count('messages.message'), before + 1, 'stored once');

  await bobs.until('the message', () => of(bobs, 'message').length >= 1, DELIVERY_MS);
  await adas.until("the author's other session gets it too", () => of(adas, 'message').length >= 1, DELIVERY_MS);
  await pause(SETTLE_MS);
  t.same(ids(bobs, 'message'), [messageId], 'streamed once to the other participant');
  t.same(ids(adas, 'message'), [messageId], "and once to the author's streams");
  const read = await unwrap(bob.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId: conversation.id, messageId } } }));
  t.same(of(bobs, 'message')[0]!.data, read, 'the message as GET .../messages/{messageId} shows it');

  t.same(strangers.events.filter((e) => e.event !== 'ready'), [], 'a stranger streams nothing of it');
  const stranger = await cy.client.GET('/conversations/{conversationId}', { params: { path: { conversationId: conversation.id } } });
  t.equal(stranger.response.status, 404, 'and cannot read the conversation');
  t.same([...bobs.violations, ...adas.violations], []);
});

t.test('a stream that drops and reconnects with Last-Event-ID on another instance gets exactly the missed events', async (t) => {
  const [ada, bob, dee] = await Promise.all([signUp(), signUp(), signUp()]);
  await befriend(ada, bob);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const sendMessage = (instance: Agora, text: string) =>
    unwrap(on(instance, ada).POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text } }));
  // What bob had before its first stream opened is not the stream's to deliver (a job may make
  // one a little after the request: wait for them all).
  await settled();
  const earlier = new Set((await notifications(bob)).map((n) => n.id));

  const first = await open(c, bob);
  const m1 = await sendMessage(a, 'before the drop');
  await first.until('m1', () => ids(first, 'message').includes(m1.id), DELIVERY_MS);
  const lastSeen = first.events.at(-1)!.id;
  first.close();
  await first.ended;

  // While bob is away: two messages and a friend request, over two instances.
  const m2 = await sendMessage(a, 'missed one');
  const m3 = await sendMessage(b, 'missed two');
  await unwrap(on(b, dee).POST('/friend-requests', { body: { accountId: bob.account.id } }));
  // Every notification of these has been made (a job may make them a little later).
  await settled();
  const all = (await notifications(bob)).filter((n) => !earlier.has(n.id));
  t.ok(all.some((n) => n.type === 'friendRequestReceived'), 'the friend request was notified');

  const resumed = await open(a, bob, lastSeen);
  t.same(resumed.events[0]!.data, { resumed: true });
  t.equal(resumed.events[0]!.id, lastSeen, 'it starts where the first left off');
  const delivered = () => new Set([...ids(first, 'notification'), ...ids(resumed, 'notification')]);
  await resumed.until('m2, m3 and every notification', () => ids(resumed, 'message').length >= 2 && all.every((n) => delivered().has(n.id)), DELIVERY_MS);
  await pause(SETTLE_MS);

  t.same(ids(resumed, 'message'), [m2.id, m3.id], 'the missed messages, once each, in order');
  const missed = ids(resumed, 'notification');
  t.equal(new Set(missed).size, missed.length, 'no notification twice');
  t.same(missed.filter((id) => ids(first, 'notification').includes(id)), [], 'nothing the first stream delivered');
  t.same([...ids(first, 'notification'), ...missed].toSorted(), all.map((n) => n.id).toSorted(), 'together: every notification made since the first stream opened');
  t.ok(of(resumed, 'notification').some((e) => e.data.type === 'friendRequestReceived' && e.data.actor.id === dee.account.id), "dee's request among them");
  t.same([...first.violations, ...resumed.violations], []);
});
