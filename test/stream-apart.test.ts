// The live stream in a server of its own (SERVE_DOMAINS=stream) and an API instance that serves
// GET /v1/stream through the stub (STREAM_SERVICE_URL), with real HTTP between them: the
// internal API carries the stream as NDJSON with heartbeats. Through the public API the stream
// behaves as in process: `ready` first, messages and notifications as their REST resources
// (dates as dates), Last-Event-ID resumes and a bad one is a 400, the per-account cap (held on the
// stream server) is a 429 with Retry-After; the call is counted on both sides. Stopping the stream
// server ends the open streams cleanly; new ones are 503 with Retry-After until it is back, and
// they then resume where they were.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { unwrap, type AgoraClient } from 'agora-sdk';
import { checkOutageAndRecovery, internalCall, internalCalls, notificationsOf, outboundCalls, startDomainApart } from './helpers/domain-apart.ts';
import { checkedFetch } from './helpers/agora.ts';
import { openStream, type OpenStream } from './helpers/sse.ts';
import { stream } from './helpers/stream-source.ts';


// The stream server holds a cap of two streams per account and sends a heartbeat every second;
// the instance runs the job queue (its worker makes the notifications).
const apart = await startDomainApart(t, 'stream', { apiJobs: true, serverEnv: { STREAM_MAX_PER_ACCOUNT: '2', STREAM_HEARTBEAT_SECONDS: '1' } });
const { api } = apart;
const [ada, bob] = await Promise.all([api.signUp(), api.signUp()]);

async function open(t: Test, token: string, lastEventId?: string): Promise<OpenStream> {
  const s = await stream(api, token, lastEventId);
  t.teardown(() => s.close());
  t.equal(s.response.status, 200, 'the stream opens');
  t.equal(s.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  await s.until('ready', () => s.events.length >= 1);
  return s;
}

const send = async (who: { client: AgoraClient }, conversationId: string, text: string) =>
  (await unwrap(who.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId } }, body: { text } })));

let conversationId = '';

t.test('notifications and messages arrive through the stream server as their resources', async (t) => {
  const bobs = await open(t, bob.token);
  t.match(bobs.events[0], { event: 'ready', data: { resumed: false } });
  t.match(bobs.events[0]!.id, /^n\d+-\d+\.m\d+-\d+$/, 'its id is the starting position of both sources');

  await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  await bobs.until('the friend request notification', () => bobs.events.some((e) => e.event === 'notification'));
  const [listed] = await notificationsOf(bob.client, 'friendRequestReceived', 1);
  const notification = bobs.events.find((e) => e.event === 'notification')!;
  t.same(notification.data, listed, 'the notification as GET /notifications shows it (dates as dates)');

  await unwrap(bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } }));
  const conversation = (await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } })));
  conversationId = conversation.id;
  const sent = await send(ada, conversationId, 'hello through the stream server');
  await bobs.until('the message', () => bobs.events.some((e) => e.event === 'message'));
  t.same(bobs.events.find((e) => e.event === 'message')!.data, sent, 'the message as POST answered it');
  t.same(bobs.violations, [], 'every event matches the contract');
  t.ok((await outboundCalls(apart, 'open', 'ok')) >= 1, 'the instance counted its call');
  t.ok((await internalCalls(apart, 'open', '2xx')) >= 1, 'the stream server counted it');

  const requestId = `trace-${randomUUID()}`;
  const traced = await openStream(checkedFetch(), `${api.baseUrl}/stream`, { authorization: `Bearer ${ada.token}`, 'x-request-id': requestId });
  t.teardown(() => traced.close());
  t.equal(traced.response.status, 200);
  t.ok(
    apart.server.logs.some((l) => l.requestId === requestId && l.operation === 'open' && l.status === 200),
    'the stream server logged the call under the request id',
  );
});

t.test('Last-Event-ID resumes on the stream server; a bad one is a 400', async (t) => {
  const first = await open(t, bob.token);
  const lastEventId = first.events.at(-1)!.id;
  first.close();
  const missed = await send(ada, conversationId, 'sent while bob was away');
  const resumed = await open(t, bob.token, lastEventId);
  t.match(resumed.events[0], { event: 'ready', id: lastEventId, data: { resumed: true } });
  await resumed.until('the missed message', () => resumed.events.some((e) => e.event === 'message'));
  t.same(resumed.events.filter((e) => e.event === 'message').map((e) => e.data), [missed], 'exactly what was missed');

  // Well-formed as the contract has it, but of a source the stream server does not have: refused there.
  const bad = await stream(api, bob.token, 'x1-1');
  t.equal(bad.response.status, 400);
  t.match(JSON.parse(await bad.response.text()), { type: 'urn:agora:problem:validation-error', errors: [{ pointer: 'header/last-event-id' }] });
  t.ok((await outboundCalls(apart, 'open', 'rejected')) >= 1, 'the refusal is counted as rejected');
});

t.test('the cap per account is held on the stream server: 429 with Retry-After; heartbeats keep an idle stream open', async (t) => {
  const streams = [await open(t, ada.token), await open(t, ada.token)];
  const third = await stream(api, ada.token);
  t.equal(third.response.status, 429);
  t.equal(third.response.headers.get('retry-after'), '10');
  t.match(JSON.parse(await third.response.text()), { type: 'urn:agora:problem:rate-limited', detail: /at most 2 streams/ });

  // The internal stream itself: NDJSON, its heartbeat announced and sent.
  const internal = await internalCall(apart, 'open', [{ accountId: bob.account.id, sessionId: randomUUID() }, null]);
  t.equal(internal.status, 200);
  t.equal(internal.headers.get('content-type'), 'application/x-ndjson');
  t.equal(internal.headers.get('x-heartbeat-ms'), '1000');
  const reader = internal.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const started = Date.now();
  while (!/\n\n/.test(text.slice(text.indexOf('\n'))) && Date.now() - started < 5000) text += (await reader.read()).value ?? '';
  await reader.cancel();
  t.match(JSON.parse(text.split('\n')[0]!), { event: 'ready', data: { resumed: false } }, 'the first line is the ready event');
  t.match(text, /\n\n/, 'an empty line (heartbeat) follows while there is nothing to send');

  // Idle for longer than the stub's silence bound would allow without heartbeats (2 × 1 s + the 1.5 s deadline).
  await new Promise((resolve) => setTimeout(resolve, 4000));
  t.notOk(streams.some((s) => s.isEnded()), 'idle streams stay open');
  for (const s of streams) s.close();
  await t.resolves(
    (async () => {
      for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        const again = await stream(api, ada.token);
        again.close();
        if (again.response.status === 200) return;
      }
      throw new Error('the closed streams did not free their slots on the stream server');
    })(),
    'closing streams on the instance frees their slots on the stream server',
  );
});

t.test('a stream server that goes away ends open streams cleanly, refuses new ones with 503, and they resume once it is back', async (t) => {
  const held = await open(t, bob.token);
  const lastEventId = held.events.at(-1)!.id;
  let calls = 0;
  await checkOutageAndRecovery(
    t,
    apart,
    'stream',
    async () => {
      // The first call is made with the server stopped: the stream it held has ended by then.
      if (calls++ === 0) await held.until('the held stream to end', () => held.isEnded(), 5000);
      const s = await stream(api, bob.token);
      s.close();
      const body = s.response.status === 200 ? undefined : JSON.parse(await s.response.text());
      return { status: s.response.status, headers: s.response.headers, json: body };
    },
    200,
  );
  t.ok(held.isEnded(), 'the stream open when the server stopped has ended');
  t.notOk(api.logs.some((l) => l.level >= 50), 'without an error');
  const missed = await send(ada, conversationId, 'sent after the outage');
  const resumed = await open(t, bob.token, lastEventId);
  await resumed.until('the message sent after the outage', () => resumed.events.some((e) => e.event === 'message'));
  t.same(resumed.events.filter((e) => e.event === 'message').map((e) => e.data), [missed], 'resumed where it was');
});
