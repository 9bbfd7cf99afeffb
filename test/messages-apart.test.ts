// Direct messages in a server of their own (SERVE_DOMAINS=messages) and an API instance that
// uses them through the stub (MESSAGES_SERVICE_URL), with real HTTP between them. Conversations,
// messages, read markers and permissions answer through the public API as they do in process
// (statuses, bodies, ETags, domain errors as 400, 403, 404, 412); the live stream of the
// instance reads its messages from the messages server (positions crossing as decimal strings);
// the messages server publishes `message.sent` for the notifications; a keyed send retried is
// stored once; calls are counted; stopping the messages server gives 503s with Retry-After,
// which end by themselves when it is back.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { ifMatch, unwrap, type AgoraClient } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { checkInternalApi, checkKeyedRetry, checkOutageAndRecovery, internalCalls, notificationsOf, outboundCalls, startDomainApart } from './helpers/domain-apart.ts';
import { total } from './helpers/metrics.ts';
import type { OpenStream } from './helpers/sse.ts';
import { stream } from './helpers/stream-source.ts';


// The messages server runs the job queue (it publishes message.sent), and so does the instance (its
// worker makes notifications while the messages server is down).
const apart = await startDomainApart(t, 'messages', { jobs: true, apiJobs: true });
const { api } = apart;
const [ada, bob, stranger] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);
await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
await unwrap(bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } }));

const send = (who: { client: AgoraClient }, conversationId: string, text: string) =>
  who.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId } }, body: { text } });

async function open(t: Test, token: string): Promise<OpenStream> {
  const s = await stream(api, token);
  t.teardown(() => s.close());
  t.equal(s.response.status, 200, 'the stream opens');
  await s.until('ready', () => s.events.length >= 1);
  return s;
}

t.test('conversations, messages and markers through the API instance and the messages server', async (t) => {
  const bobs = await open(t, bob.token);
  const requestId = `trace-${randomUUID()}`;
  const created = await api.raw('POST', '/v1/conversations', {
    headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ participantIds: [bob.account.id] }),
  });
  t.equal(created.status, 201);
  const conversation = created.json as { id: string; createdAt: string; lastActivityAt: string };
  t.equal(created.headers.get('location'), `/v1/conversations/${conversation.id}`);
  t.same(created.json.participants, [
    { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName, closed: false },
    { id: bob.account.id, handle: bob.account.handle, displayName: bob.account.displayName, closed: false },
  ]);
  t.match(created.json, { lastMessage: null, unreadCount: 0, marker: { conversationId: conversation.id, lastReadMessageId: null, unreadCount: 0, version: 0 } });
  t.equal(conversation.createdAt, conversation.lastActivityAt, 'dates cross the wire as dates');
  t.ok(apart.server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'start' && l.status === 200), 'the messages server logged the call under the request id');

  const again = await bob.client.POST('/conversations', { body: { participantIds: [ada.account.id] } });
  t.equal(again.response.status, 200, 'the same people get the existing one');
  t.equal(again.data!.id, conversation.id);
  const withStranger = await ada.client.POST('/conversations', { body: { participantIds: [stranger.account.id] } });
  t.equal(withStranger.response.status, 403, 'only friends (the domain error crosses as a 403)');
  const self = await ada.client.POST('/conversations', { body: { participantIds: [ada.account.id] } });
  t.equal(self.response.status, 400, 'yourself is invalid input, pointed at its field');
  t.equal(self.error!.errors?.[0]?.pointer, '/participantIds');

  // Messages, and the live stream of the instance (it reads them from the messages server).
  const path = { conversationId: conversation.id };
  const m1 = await send(ada, conversation.id, 'hello bob');
  t.equal(m1.response.status, 201);
  t.match(m1.data, { conversationId: conversation.id, authorId: ada.account.id, author: { id: ada.account.id, closed: false }, text: 'hello bob' });
  const m2 = await unwrap(send(bob, conversation.id, 'hi ada'));
  await bobs.until('both messages on the stream', () => bobs.events.filter((e) => e.event === 'message').length >= 2);
  const streamed = bobs.events.filter((e) => e.event === 'message');
  t.same(streamed.map((e) => e.data.id), [m1.data!.id, m2.id], 'streamed once each, in order');
  const read = await unwrap(bob.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: { path: { ...path, messageId: m1.data!.id } } }));
  t.same(streamed[0]!.data, read, 'as GET .../messages/{messageId} shows it');
  t.same(bobs.violations, [], 'every event conforms to the contract');
  const listed = await unwrap(ada.client.GET('/conversations/{conversationId}/messages', { params: { path } }));
  t.same(listed.data.map((m) => m.id), [m2.id, m1.data!.id], 'newest first');
  t.equal((await stranger.client.GET('/conversations/{conversationId}', { params: { path } })).response.status, 404, 'a stranger cannot see it');
  t.equal((await send(stranger, conversation.id, 'hey')).response.status, 404);
  const top = await unwrap(bob.client.GET('/conversations'));
  t.match(top.data[0], { id: conversation.id, lastMessage: { id: m2.id, text: 'hi ada' } });

  // Markers, conditionally.
  const marker = await ada.client.GET('/conversations/{conversationId}/marker', { params: { path } });
  t.same(marker.data, { conversationId: conversation.id, lastReadMessageId: null, unreadCount: 1, version: 0 });
  const moved = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { lastReadMessageId: m2.id } });
  t.equal(moved.response.status, 200);
  t.same(moved.data, { conversationId: conversation.id, lastReadMessageId: m2.id, unreadCount: 0, version: 1 });
  t.equal(moved.response.headers.get('etag'), '"1"');
  const stale = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { lastReadMessageId: m2.id } });
  t.equal(stale.response.status, 412, 'a stale version is refused (the precondition crosses the wire)');
  t.equal(stale.error!.currentVersion, 1);

  // The messages server published message.sent in its transaction; a worker made the notification.
  const heard = await notificationsOf(bob.client, 'messageReceived', 1);
  t.match(heard, [{ type: 'messageReceived', conversationId: conversation.id }], 'the recipient was notified');

  // Permissions and deletion.
  const messageUrl = `/v1/conversations/${conversation.id}/messages/${m1.data!.id}`;
  t.equal((await api.raw('OPTIONS', messageUrl, { headers: { authorization: `Bearer ${ada.token}` } })).headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS', 'permissions come from the messages server');
  t.equal((await api.raw('OPTIONS', messageUrl, { headers: { authorization: `Bearer ${bob.token}` } })).headers.get('allow'), 'GET, HEAD, OPTIONS');
  const messagePath = { path: { ...path, messageId: m1.data!.id } };
  t.equal((await bob.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: messagePath })).response.status, 403);
  t.equal((await ada.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: messagePath })).response.status, 204);
  t.equal((await bob.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: messagePath })).response.status, 404);
  // The messages server told the notifications domain: what followed the message was bob's own, so its notice went.
  t.same((await unwrap(bob.client.GET('/notifications', { params: { query: { types: 'messageReceived' } } }))).data, [], "the deleted message's notice is gone");
});

t.test('a keyed send retried is stored once, through the API and when the stub forwards it again', async (t) => {
  // The same people: the conversation of the first test, answered 200.
  const { id: conversationId } = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  await checkKeyedRetry(t, apart, ada.token, `/v1/conversations/${conversationId}/messages`, { text: 'keyed' }, 'send');

  const caller = { accountId: ada.account.id, sessionId: randomUUID() };
  const outer = { scope: ada.account.id, operation: 'sendMessage', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const made = await withCall({ idempotency: outer }, () => api.services.messages.send(caller, conversationId, { text: 'forwarded' }, unitOfWork));
  const replayed = await withCall({ idempotency: outer }, () => api.services.messages.send(caller, conversationId, { text: 'forwarded' }, unitOfWork));
  t.equal(replayed.id, made.id, "the second call got the first one's result");
  t.ok(replayed.createdAt instanceof Date, 'a replayed result is decoded like a fresh one');
  t.ok(apart.server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'send'), 'the messages server replayed it');
  const rows = await api.sql<{ text: string; n: number }>("select text, count(*)::int as n from messages.message where conversation_id = $1 and text in ('forwarded', 'keyed') group by text order by text", [conversationId]);
  t.same(rows, [{ text: 'forwarded', n: 1 }, { text: 'keyed', n: 1 }], 'each stored once');
});

t.test('outbound calls are counted per operation and outcome; the messages server counts what it answered', async (t) => {
  t.ok((await outboundCalls(apart, 'send', 'ok')) >= 3);
  t.ok((await outboundCalls(apart, 'start', 'rejected')) >= 2, 'domain errors are counted as rejected');
  t.ok((await outboundCalls(apart, 'streamSince', 'ok')) >= 1, "the live stream's reads too");
  t.equal(total(await api.scrape(), 'agora_outbound_request_duration_seconds_count', { target: 'messages', operation: 'moveMarker' }), 2, 'and timed');
  t.ok((await internalCalls(apart, 'send', '2xx')) >= 3);
  t.equal(await internalCalls(apart, 'moveMarker', '4xx'), 1, 'the stale move, refused');
});

t.test('the internal API takes only valid calls with the shared secret', async (t) => {
  const position = await checkInternalApi(t, apart, 'streamTail', [ada.account.id], [[], ['not-a-uuid'], [ada.account.id, 1]]);
  t.match(position, { txid: /^[0-9]+$/, seq: /^[0-9]+$/ }, 'a position, as decimal strings');
});

t.test('the messages server stops: 503 with Retry-After at once; it returns: served again', async (t) => {
  const { id: conversationId } = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  await checkOutageAndRecovery(t, apart, 'messages', () => api.raw('GET', `/v1/conversations/${conversationId}`, { headers: { authorization: `Bearer ${ada.token}` } }), 200);
  t.equal((await api.raw('GET', `/v1/accounts/${ada.account.id}`)).status, 200, 'other domains kept serving');
  t.equal((await send(ada, conversationId, 'after')).response.status, 201, 'writes too');
});

t.test('a live stream held while the messages server is down ends, and resumes from Last-Event-ID once it is back', async (t) => {
  const cy = await api.signUp();
  const held = await stream(api, bob.token);
  t.teardown(() => held.close());
  await held.until('ready', () => held.events.length >= 1);
  const lastEventId = held.events.at(-1)!.id;
  await apart.stop();
  // A notification wakes the stream; reading its messages then finds the server down.
  const request = await unwrap(cy.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  await held.until('the stream to end', () => held.isEnded());
  t.notOk(api.logs.some((l) => l.level >= 50), 'no error logged: an outage is expected');
  t.ok(api.logs.some((l) => l.msg === 'event stream ended: a domain it reads is unavailable' && l.target === 'messages'));
  // (Opening a stream reads where each source's tail is: a fresh one is refused at once.)
  const refused = await stream(api, bob.token);
  t.equal(refused.response.status, 503, 'a new stream is refused while it is down');
  t.equal(refused.response.headers.get('retry-after'), '10', 'with Retry-After');

  await apart.restart();
  const resumed = await stream(api, bob.token, lastEventId);
  t.teardown(() => resumed.close());
  t.equal(resumed.response.status, 200, 'served again');
  await resumed.until('the missed notification', () => resumed.events.some((e) => e.event === 'notification'));
  t.match(resumed.events.find((e) => e.event === 'notification')!.data, { type: 'friendRequestReceived', friendRequestId: request.id });
  t.same(resumed.violations, [], 'every event conforms to the contract');
});
