// The notifications domain in a server of its own (SERVE_DOMAINS=notifications), used by an API
// instance through the stub (NOTIFICATIONS_SERVICE_URL), with real HTTP between them. The
// instance's worker runs the durable events' consumers, which call the domain server; recipients
// list, group, mark read and dismiss through the instance, with the statuses and bodies of the
// public API; the live stream reads its notifications from the domain server. A keyed write is
// made once; calls are counted; stopping the domain server gives prompt 503s with Retry-After
// (other domains keep serving, events wait in the queue, and so do the clean-ups of deletions,
// which answer as done), which end by themselves when it returns.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { total } from './helpers/metrics.ts';
import { checkCounted, checkOutage, checkRecovered, serveApart, waitFor } from './helpers/served-apart.ts';
import { stream } from './helpers/stream-source.ts';


const apart = await serveApart(t, 'notifications');
const api = apart.instances[0]!;
const server = apart.server;

type Person = Awaited<ReturnType<typeof api.signUp>>;
const [ada, bob, cyd] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);

/** Bob's (or anyone's) notifications, once at least `count` of them have arrived. */
async function notificationsOf(who: Person, count: number, query: { types?: string } = {}) {
  return waitFor(async () => {
    const found = (await unwrap(who.client.GET('/notifications', { params: { query: { limit: 100, ...query } } }))).data;
    return found.length >= count ? found : undefined;
  }).then((found) => found ?? unwrap(who.client.GET('/notifications', { params: { query: { limit: 100, ...query } } })).then((page) => page.data));
}

t.test('notifications made by the consumers, read, grouped, marked read and dismissed through the instance', async (t) => {
  const request = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  // A notification is numbered when its job runs, and two jobs may run at once (two batches, or
  // two workers): cyd's request waits for ada's notice, so that the order below is defined.
  await notificationsOf(bob, 1);
  await unwrap(cyd.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  const [newest, oldest] = await notificationsOf(bob, 2);
  t.match(oldest, { type: 'friendRequestReceived', friendRequestId: request.id, postId: null, channelId: null, conversationId: null });
  t.same(oldest!.actor, { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName }, 'the actor crosses the wire');
  t.match(oldest!.createdAt, /^\d{4}-\d\d-\d\dT.*Z$/, 'dates cross the wire as dates');
  t.equal((await api.sql('select count(*)::int as n from notifications.notification where recipient_id = $1', [bob.account.id]))[0]!.n, 2, 'stored by the domain server, once each');
  t.ok(server.logs.some((l) => l.msg === 'internal call' && l.operation === 'onFriendRequestReceived' && l.status === 204), 'the instance\'s worker called the domain server');

  const requestId = `trace-${randomUUID()}`;
  const traced = await api.raw('GET', '/v1/notifications?types=friendRequestAccepted', { headers: { authorization: `Bearer ${bob.token}`, 'x-request-id': requestId } });
  t.equal(traced.status, 200);
  t.same(traced.json.data, [], 'the types filter crosses the wire');
  t.ok(server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'list'), 'the domain server logged the call under the request id');

  const groups = await unwrap(bob.client.GET('/notifications/groups'));
  t.equal(groups.data.length, 2);
  t.match(groups.data[0], { type: 'friendRequestReceived', count: 1, latest: { id: newest!.id } });
  t.match(groups.data[0]!.newestAt, /^\d{4}-\d\d-\d\dT/);

  const fresh = await bob.client.GET('/notifications/marker');
  t.same(fresh.data, { lastReadId: null, unreadCount: 2, version: 0 });
  t.equal(fresh.response.headers.get('etag'), '"0"');
  const moved = await bob.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: oldest!.id } });
  t.equal(moved.response.status, 200);
  t.same(moved.data, { lastReadId: oldest!.id, unreadCount: 1, version: 1 });
  const stale = await bob.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: newest!.id } });
  t.equal(stale.response.status, 412, 'a stale version crosses the wire as a 412');
  t.equal(stale.error!.currentVersion, 1, 'with the current version');
  const any = await unwrap(bob.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '*' } }, body: { lastReadId: newest!.id } }));
  t.same(any, { lastReadId: newest!.id, unreadCount: 0, version: 2 }, 'any version (no expected one crosses as null)');
  const notMine = await ada.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: newest!.id } });
  t.equal(notMine.response.status, 400, 'invalid input crosses the wire, pointed at its field');
  t.same(notMine.error!.errors, [{ pointer: '/lastReadId', detail: 'is not one of your notifications' }]);

  const path = `/v1/notifications/${newest!.id}`;
  const as = (who: Person) => ({ headers: { authorization: `Bearer ${who.token}` } });
  t.equal((await api.raw('OPTIONS', path, as(bob))).headers.get('allow'), 'DELETE, OPTIONS', 'permissions come from the domain server');
  t.equal((await api.raw('OPTIONS', path, as(ada))).status, 404);
  t.equal((await api.raw('DELETE', path, as(ada))).status, 404, "somebody else's does not exist");
  t.equal((await api.raw('DELETE', path, as(bob))).status, 204);
  t.equal((await api.raw('DELETE', path, as(bob))).status, 404, 'dismissed: gone');
  t.same((await unwrap(bob.client.GET('/notifications'))).data.map((n) => n.id), [oldest!.id]);
});

t.test('the live stream reads its notifications from the domain server', async (t) => {
  const dan = await api.signUp();
  const s = await stream(api, dan.token);
  t.teardown(() => s.close());
  t.equal(s.response.status, 200);
  await s.until('ready', () => s.events.length >= 1);
  const request = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: dan.account.id } }));
  await s.until('the notification', () => s.events.some((e) => e.event === 'notification'), 20_000);
  const event = s.events.find((e) => e.event === 'notification')!;
  t.match(event.data, { type: 'friendRequestReceived', friendRequestId: request.id, actor: { id: ada.account.id } });
  t.match(event.id, /^n\d+-\d+\./, 'its position (64-bit, a string on the wire) is the stream\'s id');
  t.same(s.violations, [], 'the event conforms to the contract');
});

t.test('a keyed write retried is stored once, and so is what it notifies', async (t) => {
  const key = randomUUID();
  const post = () => ada.client.POST('/posts', { body: { text: `hello @${cyd.account.handle}` }, params: { header: { 'Idempotency-Key': key } } });
  const first = await post();
  t.equal(first.response.status, 201);
  const again = await post();
  t.equal(again.response.headers.get('idempotent-replayed'), 'true');
  t.equal(again.data!.id, first.data!.id);
  const mentions = await notificationsOf(cyd, 1, { types: 'mention' });
  t.same(mentions.map((n) => n.postId), [first.data!.id], 'one mention');

  // A consumer's call forwarded again under one outer key (the same request retried) is replayed, not run twice.
  const outer = { scope: ada.account.id, operation: 'sendMessage', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const message = { conversationId: randomUUID(), messageId: randomUUID(), authorId: ada.account.id, recipientIds: [cyd.account.id] };
  await withCall({ idempotency: outer }, () => api.services.notifications.onMessageSent(message, unitOfWork));
  await withCall({ idempotency: outer }, () => api.services.notifications.onMessageSent(message, unitOfWork));
  t.ok(server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'onMessageSent'), 'the domain server replayed it');
  t.equal((await api.sql('select count(*)::int as n from notifications.notification where message_id = $1', [message.messageId]))[0]!.n, 1, 'one notification stored');
});

t.test("a batch's messages cross in one call (onMessagesSent): each message's effect, in order, and the call's idempotency", async (t) => {
  const conversationId = randomUUID();
  // Time-ordered ids, as a conversation's messages have: the first notifies, the second finds it unread.
  const messages = ['01939a1c-0000-7000-8000-0000000000f1', '01939a1c-0000-7000-8000-0000000000f2'].map((messageId) => ({
    conversationId,
    messageId,
    authorId: ada.account.id,
    recipientIds: [ada.account.id, bob.account.id, cyd.account.id],
    readingIds: [cyd.account.id],
  }));
  const outer = { scope: ada.account.id, operation: 'sendMessage', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  await withCall({ idempotency: outer }, () => api.services.notifications.onMessagesSent(messages, unitOfWork));
  await withCall({ idempotency: outer }, () => api.services.notifications.onMessagesSent(messages, unitOfWork));
  t.ok(server.logs.some((l) => l.msg === 'internal call' && l.operation === 'onMessagesSent' && l.status === 204), 'the domain server ran it');
  t.ok(server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'onMessagesSent'), 'and replayed it under the same key');
  t.same(
    await api.sql('select recipient_id, message_id from notifications.notification where conversation_id = $1 order by seq', [conversationId]),
    [{ recipient_id: bob.account.id, message_id: messages[0]!.messageId }],
    "one notice: bob's, of the first message (the second finds it unread; cyd is reading, ada wrote them)",
  );
});

t.test('outbound calls are counted and timed per operation; the domain server counts what it answered', async (t) => {
  // The consumers' calls, from the instance's worker, too.
  await checkCounted(t, apart, api, {
    ok: { list: 1, onFriendRequestReceived: 2 },
    rejected: { moveMarker: 2 },
    timed: 'marker',
    answered: 'list',
  });
});

t.test('the domain server stops: 503 with Retry-After, the rest served, events and clean-ups wait; it returns: served again, events delivered once, clean-ups done', async (t) => {
  // A post that mentions Bob, notified before the outage; deleted during it.
  const mentioned = await unwrap(cyd.client.POST('/posts', { body: { text: `soon deleted, @${bob.account.handle}` } }));
  const aboutPost = async () => (await api.sql('select count(*)::int as n from notifications.notification where post_id = $1', [mentioned.id]))[0]!.n;
  await waitFor(async () => (await aboutPost()) === 1);
  t.equal(await aboutPost(), 1, 'the mention was made before the outage');
  await server.stop();
  await checkOutage(t, apart, api, { method: 'GET', path: '/v1/notifications', token: bob.token, operation: 'list' });
  const marker = await api.raw('PUT', '/v1/notifications/marker', {
    headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json', 'if-match': '*' },
    body: JSON.stringify({ lastReadId: randomUUID() }),
  });
  t.equal(marker.status, 503, 'writes too');
  // The friend request is the social domain's, served in the instance; its event's job fails
  // while the domain server is down, and stays in the queue to be retried.
  const eve = await api.signUp();
  const during = await eve.client.POST('/friend-requests', { body: { accountId: bob.account.id } });
  t.equal(during.response.status, 201, 'other domains keep serving');
  // A deletion whose clean-up in the domain server cannot run now is done all the same: its
  // clean-up's job, enqueued with it, waits in the queue like the events' jobs.
  const deleted = await api.raw('DELETE', `/v1/posts/${mentioned.id}`, { headers: { authorization: `Bearer ${cyd.token}` } });
  t.equal(deleted.status, 204, "a deletion whose notifications' clean-up cannot reach the domain server is done");
  t.equal((await api.sql('select count(*)::int as n from posts.post where id = $1', [mentioned.id]))[0]!.n, 0, 'the post is gone');
  t.equal(await aboutPost(), 1, 'the notification about it stays while the domain server is down');
  t.ok(
    api.logs.some((l) => l.msg === 'a clean-up failed in process; its job will do it' && l.event === 'post.deleted' && l.consumer === 'notifications'),
    'the failed clean-up is logged',
  );
  const cleanUp = () => api.sql<{ id: string; state: string }>(
    `select id, state from pgboss.job where name = 'events.notifications' and data->>'event' = 'post.deleted' and data->'payload'->>'postId' = $1`,
    [mentioned.id],
  );
  t.equal((await cleanUp()).length, 1, "the clean-up's job was enqueued with the deletion");
  const job = () => api.sql<{ id: string; state: string; retry_count: number }>(
    `select id, state, retry_count from pgboss.job where name = 'events.notifications' and data->'payload'->>'requestId' = $1`,
    [during.data!.id],
  );
  const failed = await waitFor(async () => (await job()).find((j) => j.state === 'retry'));
  t.ok(failed, 'its job failed, to be retried');
  t.ok(api.logs.some((l) => l.msg === 'a domain event consumer failed; will retry' && l.event === 'friendRequest.created'), 'the failed attempt is logged');

  await server.start();
  const back = await bob.client.GET('/notifications/marker');
  t.equal(back.response.status, 200, 'served again, without restarting the instance');
  await checkRecovered(t, apart, api);
  // Its retry is due after a backoff that doubles with each attempt (up to minutes): made due
  // now, and the worker woken as pg-boss wakes it for a new job (its channel, from its schema).
  await api.sql(`update pgboss.job set start_after = now() where id = $1 and state = 'retry'`, [failed!.id]);
  await api.sql(`select pg_notify('pgboss_' || left(encode(sha224('pgboss'::bytea), 'hex'), 24), 'events.notifications')`);
  const delivered = await waitFor(async () => (await unwrap(bob.client.GET('/notifications'))).data.find((n) => n.friendRequestId === during.data!.id));
  t.ok(delivered, 'the event of the outage was consumed once the domain server was back');
  t.equal((await api.sql('select count(*)::int as n from notifications.notification where friend_request_id = $1', [during.data!.id]))[0]!.n, 1, 'once');
  t.match(await job(), [{ state: 'completed' }]);
  // The clean-up's job, failed while the server was down (or not yet run), made due in the same way.
  await api.sql(`update pgboss.job set start_after = now() where name = 'events.notifications' and data->>'event' = 'post.deleted' and state in ('created', 'retry')`);
  await api.sql(`select pg_notify('pgboss_' || left(encode(sha224('pgboss'::bytea), 'hex'), 24), 'events.notifications')`);
  await waitFor(async () => (await aboutPost()) === 0);
  t.equal(await aboutPost(), 0, 'the notification about the deleted post is gone once the domain server is back');
  t.match(await waitFor(async () => ((await cleanUp())[0]?.state === 'completed' ? cleanUp() : undefined)), [{ state: 'completed' }], "the clean-up's job completed");
});

t.test('closing an account: the instance tells the domain server to forget it', async (t) => {
  const fay = await api.signUp();
  await unwrap(fay.client.POST('/friend-requests', { body: { accountId: cyd.account.id } }));
  await waitFor(async () => (await api.sql('select count(*)::int as n from notifications.notification where actor_id = $1', [fay.account.id]))[0]!.n === 1);
  await unwrap(fay.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: fay.account.id } } }));
  t.equal((await api.sql('select count(*)::int as n from notifications.notification where actor_id = $1', [fay.account.id]))[0]!.n, 0, 'what it caused is gone');
  t.ok(total(await api.scrape(), 'agora_outbound_requests_total', { target: 'notifications', operation: 'forgetAccount', outcome: 'ok' }) >= 1);
});

t.test("deleting a post: the instance tells the domain server to forget the post's notifications", async (t) => {
  const post = await unwrap(ada.client.POST('/posts', { body: { text: `soon gone, @${cyd.account.handle}` } }));
  const count = async () => (await api.sql('select count(*)::int as n from notifications.notification where post_id = $1', [post.id]))[0]!.n;
  await waitFor(async () => (await count()) === 1);
  t.equal(await count(), 1, 'the mention was made');
  await unwrap(ada.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id } } }));
  t.equal(await count(), 0, 'the mention is gone when the deletion answers');
  t.ok(total(await api.scrape(), 'agora_outbound_requests_total', { target: 'notifications', operation: 'forgetPosts', outcome: 'ok' }) >= 1);
});

t.test("deleting a message: the instance tells the domain server what its notices should name", async (t) => {
  const [eve, fox] = await Promise.all([api.signUp(), api.signUp()]);
  await unwrap(eve.client.POST('/friend-requests', { body: { accountId: fox.account.id } }));
  await unwrap(fox.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: fox.account.id, friendId: eve.account.id } } }));
  const conversation = await unwrap(eve.client.POST('/conversations', { body: { participantIds: [fox.account.id] } }));
  const send = (text: string) => unwrap(eve.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text } }));
  const first = await send('soon gone');
  const second = await send('staying');
  const named = async () => (await api.sql("select message_id from notifications.notification where recipient_id = $1 and type = 'messageReceived'", [fox.account.id])).map((r) => r.message_id);
  await waitFor(async () => (await named()).length === 1);
  t.same(await named(), [first.id], 'the notice names the first message');
  await unwrap(eve.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId: conversation.id, messageId: first.id } } }));
  t.same(await named(), [second.id], 'it names the next one when the deletion answers');
  t.ok(total(await api.scrape(), 'agora_outbound_requests_total', { target: 'notifications', operation: 'onMessageDeleted', outcome: 'ok' }) >= 1);
});
