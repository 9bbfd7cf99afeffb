// Home timelines in a server of their own (SERVE_DOMAINS=timelines) and an API instance that
// uses them through the stub (TIMELINES_SERVICE_URL), with real HTTP between them. The feed
// answers through the public API as it does in process (v1 and v2 bodies, cursors, pages, the
// caller's friends only, unfriending seen at once); the fan-out runs in the timelines server's
// worker, reading the posts and friendships the instance stored, and writes the timelines there;
// the instance's consumer of `friendRequest.accepted` and its `account.closed` listener call the
// server; a keyed consumer call retried is applied once; calls are counted; stopping the
// timelines server gives 503s with Retry-After, which end by themselves when it is back.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { checkInternalApi, checkOutageAndRecovery, internalCalls, outboundCalls, startDomainApart } from './helpers/domain-apart.ts';
import { parseMetrics, total } from './helpers/metrics.ts';


// The timelines server runs the worker (the fan-out, and the friendships' consumer); so does the instance (the consumer, through the stub).
const apart = await startDomainApart(t, 'timelines', { jobs: true, apiJobs: true });
const { api } = apart;
const [ada, bob, cyd, stranger] = await Promise.all([api.signUp(), api.signUp(), api.signUp(), api.signUp()]);

async function befriend(a: typeof ada, b: typeof ada) {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
}

/** How many entries `who`'s timeline has, once at least `n` (or after 20 s), reading its feed meanwhile (a timeline is made at a read while the fan-out is caught up). */
async function entriesOf(who: typeof ada, n: number): Promise<number> {
  const until = Date.now() + 20_000;
  for (;;) {
    await unwrap(who.client.GET('/feed', { params: { query: { limit: 1 } } }));
    const found = (await api.sql<{ n: number }>('select count(*)::int as n from timelines.entry where owner_id = $1', [who.account.id]))[0]!.n;
    if (found >= n || Date.now() > until) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('the feed through the API instance and the timelines server', async (t) => {
  const early = await unwrap(bob.client.POST('/posts', { body: { text: 'before we were friends' } }));
  await befriend(ada, bob);
  await befriend(ada, cyd);
  const own = await unwrap(ada.client.POST('/posts', { body: { text: 'mine' } }));
  const later = await unwrap(bob.client.POST('/posts', { body: { text: 'bob again' } }));
  const cyds = await unwrap(cyd.client.POST('/posts', { body: { text: 'from cyd' } }));
  await unwrap(stranger.client.POST('/posts', { body: { text: 'not a friend' } }));

  const requestId = `trace-${randomUUID()}`;
  const first = await api.raw('GET', '/v1/feed?limit=2', { headers: { authorization: `Bearer ${ada.token}`, 'x-request-id': requestId } });
  t.equal(first.status, 200);
  const page = first.json as { data: { id: string; author: { id: string }; createdAt: string }[]; nextCursor: string };
  t.same(page.data.map((p) => p.id), [cyds.id, later.id], 'newest first, friends and own posts');
  t.equal(page.data[0]!.author.id, cyd.account.id, 'with their authors');
  t.match(page.data[0]!.createdAt, /^\d{4}-\d\d-\d\dT/, 'dates cross the wire as dates');
  t.ok(apart.server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'feed' && l.status === 200), 'the timelines server logged the call under the request id');
  const rest = await unwrap(ada.client.GET('/feed', { params: { query: { limit: 10, cursor: page.nextCursor } } }));
  t.same(rest.data.map((p) => p.id), [own.id, early.id], "the cursor crosses the wire; a new friend's earlier posts are in");
  t.equal(rest.nextCursor, null);
  const second = await unwrap(ada.client.GET('/feed', { params: { query: { limit: 2, page: 2 } } }));
  t.same(second.data.map((p) => p.id), [own.id, early.id], 'a page number too');
  const v2 = await api.raw('GET', '/v2/feed?limit=1', { headers: { authorization: `Bearer ${ada.token}` } });
  t.equal(v2.status, 200);
  t.match(v2.json, { data: [{ id: cyds.id }], next: /^\/v2\/feed\?/ }, 'version 2 serves it too');
  t.equal((await api.raw('GET', '/v1/feed')).status, 401, 'sign-in required');
  const bad = await ada.client.GET('/feed', { params: { query: { cursor: 'not-a-cursor' } } });
  t.equal(bad.response.status, 400, "a bad cursor is refused by the timelines server (the invalid input crosses the wire)");
  t.match(bad.error, { errors: [{ pointer: 'query/cursor' }] });

  // The fan-out of the timelines server's worker keeps ada's timeline (made at her first read).
  const entries = await entriesOf(ada, 3);
  t.ok(entries >= 3, `the timelines server's fan-out wrote ada's timeline (${entries} entries)`);
  const scrape = parseMetrics(await (await fetch(apart.server.metricsUrl!)).text());
  t.ok(total(scrape, 'agora_timeline_posts_fanned_out_total', {}) >= 1, 'its passes are counted on the timelines server');
  t.equal(total(await api.scrape(), 'agora_timeline_posts_fanned_out_total', {}), 0, 'the instance runs none');
  const outcome = await api.services.timelines.fanOut({ full: true });
  t.match(outcome, { ran: Boolean, posts: Number, caughtUp: Boolean }, 'a pass asked through the stub runs on the server');

  // Unfriending shows at once; a post after it is not fanned out to the former friend.
  t.equal((await ada.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: cyd.account.id } } })).response.status, 204);
  const after = await unwrap(ada.client.GET('/feed', { params: { query: { limit: 10 } } }));
  t.same(after.data.map((p) => p.id), [later.id, own.id, early.id]);
});

t.test("the instance's consumer and listener call the timelines server; a keyed call retried is applied once", async (t) => {
  // A friendship made through the instance reaches the server by its consumer (the job) on one side or the other.
  const dan = await api.signUp();
  const hello = await unwrap(dan.client.POST('/posts', { body: { text: 'hello from dan' } }));
  await befriend(bob, dan);
  const feed = await unwrap(bob.client.GET('/feed', { params: { query: { limit: 10 } } }));
  t.equal(feed.data[0]!.id, hello.id, "bob's feed has his new friend's post");

  // The consumer's call forwarded again under one outer key (the same job retried) is replayed, not run twice.
  const outer = { scope: 'job', operation: 'friendRequest.accepted', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const event = { accountId: bob.account.id, friendId: dan.account.id };
  await withCall({ idempotency: outer }, () => api.services.timelines.onFriendRequestAccepted(event, unitOfWork));
  await withCall({ idempotency: outer }, () => api.services.timelines.onFriendRequestAccepted(event, unitOfWork));
  t.ok(apart.server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'onFriendRequestAccepted'), 'the timelines server replayed it');
  t.equal(apart.server.logs.filter((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'onFriendRequestAccepted').length, 1, 'once: the first call ran');

  // Closing an account: the instance's listener tells the server to forget its timeline.
  const closed = await api.raw('DELETE', `/v1/accounts/${dan.account.id}`, { headers: { authorization: `Bearer ${dan.token}` } });
  t.equal(closed.status, 204);
  t.same(await api.sql('select owner_id from timelines.owner where owner_id = $1', [dan.account.id]), [], 'its timeline is forgotten');
  t.notOk((await unwrap(bob.client.GET('/feed', { params: { query: { limit: 10 } } }))).data.some((p) => p.id === hello.id), "a closed account's posts leave the feed");
});

t.test('outbound calls are counted per operation and outcome; the timelines server counts what it answered', async (t) => {
  t.ok((await outboundCalls(apart, 'feed', 'ok')) >= 7);
  t.ok((await outboundCalls(apart, 'feed', 'rejected')) >= 1, 'domain errors are counted as rejected');
  t.ok((await outboundCalls(apart, 'forgetAccount', 'ok')) >= 1, "the instance's listener's calls too");
  t.equal(total(await api.scrape(), 'agora_outbound_target_up', { target: 'timelines' }), 1);
  t.ok((await internalCalls(apart, 'feed', '2xx')) >= 6);
  t.ok((await internalCalls(apart, 'feed', '4xx')) >= 1, 'the refused ones too');
});

t.test('the internal API takes only valid calls with the shared secret', async (t) => {
  const caller = { accountId: ada.account.id, sessionId: randomUUID() };
  const invalid = [[caller], [caller, { limit: 0 }], [{ accountId: 'not-a-uuid', sessionId: randomUUID() }, { limit: 1 }]];
  const page = await checkInternalApi(t, apart, 'feed', [caller, { limit: 1 }], invalid);
  t.match(page, { items: [{ authorId: bob.account.id, text: 'bob again' }], nextCursor: String });
});

t.test('the timelines server stops: 503 with Retry-After at once; it returns: served again', async (t) => {
  await checkOutageAndRecovery(t, apart, 'timelines', () => api.raw('GET', '/v1/feed', { headers: { authorization: `Bearer ${ada.token}` } }), 200);
  t.equal((await api.raw('GET', `/v1/accounts/${ada.account.id}/posts`)).status, 200, 'other domains kept serving');
  const write = await ada.client.POST('/posts', { body: { text: 'after' } });
  t.equal(write.response.status, 201, 'writes too');
  const feed = await unwrap(ada.client.GET('/feed', { params: { query: { limit: 1 } } }));
  t.equal(feed.data[0]!.id, write.data!.id, 'and the feed has what was written meanwhile');
});
