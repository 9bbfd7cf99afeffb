// Posts in a server of their own (SERVE_DOMAINS=posts) and an API instance that uses them through
// the stub (POSTS_SERVICE_URL), with real HTTP between them. General and channel posts answer
// through the public API as they do in process (statuses, bodies, ETags, Allow, the domain errors
// crossing the wire as 400, 403, 404, 412); the posts server asks the channels and accounts
// domains of its own process who may post and who the authors are, and publishes
// `post.published`, from which the instance's worker makes mention notifications; the feed (the
// instance's timelines domain) reads the posts the server stored; deleting a channel and closing
// an account remove posts on the posts server; a keyed publish retried is stored once; calls are
// counted; stopping the posts server gives 503s with Retry-After, which end when it is back.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { checkInternalApi, checkKeyedRetry, checkOutageAndRecovery, internalCalls, notificationsOf, outboundCalls, startDomainApart } from './helpers/domain-apart.ts';
import { total } from './helpers/metrics.ts';


// The posts server runs the job queue (it publishes post.published), and so does the instance (its worker makes notifications).
const apart = await startDomainApart(t, 'posts', { jobs: true, apiJobs: true });
const { api } = apart;
const [ada, bob, stranger] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);
const anonymous = api.client();

t.test('general posts through the API instance and the posts server', async (t) => {
  const requestId = `trace-${randomUUID()}`;
  const created = await api.raw('POST', '/v1/posts', {
    headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ text: `The engine weaves, @${bob.account.handle}` }),
  });
  t.equal(created.status, 201);
  const post = created.json as { id: string; createdAt: string; updatedAt: string };
  t.equal(created.headers.get('location'), `/v1/posts/${post.id}`);
  t.equal(created.headers.get('etag'), '"0"');
  t.match(post, { authorId: ada.account.id, author: { id: ada.account.id, handle: ada.account.handle }, text: `The engine weaves, @${bob.account.handle}`, version: 0 });
  t.match(post.createdAt, /^\d{4}-\d\d-\d\dT/, 'dates cross the wire as dates');
  t.ok(apart.server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'publish' && l.status === 200), 'the posts server logged the call under the request id');
  t.equal((await api.sql('select count(*)::int as n from posts.post where id = $1', [post.id]))[0]!.n, 1, 'stored once');
  t.match(await notificationsOf(bob.client, 'mention', 1), [{ type: 'mention', postId: post.id }], 'the posts server published post.published: the mentioned account hears of it');

  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: randomUUID() } } })).response.status, 404, 'an unknown post is 404');
  const read = await anonymous.GET('/posts/{postId}', { params: { path: { postId: post.id } } });
  t.equal(read.response.status, 200);
  t.equal(read.response.headers.get('etag'), '"0"');
  t.equal(read.data!.createdAt, post.createdAt);

  // Conditional changes.
  const path = { postId: post.id };
  t.equal((await bob.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'mine' } })).response.status, 403, "only its author edits a post (403)");
  const edited = await ada.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'Edited' } });
  t.equal(edited.response.status, 200);
  t.match(edited.data, { text: 'Edited', version: 1 });
  t.equal(edited.response.headers.get('etag'), '"1"');
  const stale = await ada.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'again' } });
  t.equal(stale.response.status, 412, 'a stale version is refused (the precondition crosses the wire)');
  t.equal(stale.error!.currentVersion, 1);
  const options = await api.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: { authorization: `Bearer ${ada.token}` } });
  t.equal(options.headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS', 'permissions come from the posts server');
  const othersOptions = await api.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: { authorization: `Bearer ${bob.token}` } });
  t.equal(othersOptions.headers.get('allow'), 'GET, HEAD, OPTIONS');

  // An account's posts, with the range of days checked by the posts server.
  const second = await unwrap(ada.client.POST('/posts', { body: { text: 'second' } }));
  const listed = await unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: ada.account.id }, query: { limit: 1 } } }));
  t.same(listed.data.map((p) => p.id), [second.id], 'newest first, one page');
  t.type(listed.nextCursor, 'string');
  const next = await unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: ada.account.id }, query: { limit: 1, cursor: listed.nextCursor! } } }));
  t.same(next.data.map((p) => p.id), [post.id], 'the cursor crosses the wire');
  const backwards = await anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: ada.account.id }, query: { between: '2026-02-01_2026-01-01' } } });
  t.equal(backwards.response.status, 400, 'a range that ends before it starts is refused by the posts server (the invalid input crosses the wire)');
  t.match(backwards.error, { errors: [{ pointer: 'query/between', detail: 'the end day must come after the start day' }] });
  t.equal((await anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: randomUUID() } } })).response.status, 404, 'an unknown account');

  // The feed (the instance's timelines domain) reads the posts the posts server stored.
  const feed = await unwrap(ada.client.GET('/feed', { params: { query: { limit: 10 } } }));
  t.same(feed.data.map((p) => p.id), [second.id, post.id], "the author's feed has both");

  // Deleting.
  t.equal((await bob.client.DELETE('/posts/{postId}', { params: { path } })).response.status, 403);
  t.equal((await ada.client.DELETE('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } } })).response.status, 412);
  t.equal((await ada.client.DELETE('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(1) } } })).response.status, 204);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path } })).response.status, 404);
  t.same(await api.sql('select id from posts.post where id = $1', [post.id]), []);
});

t.test('channel posts: the posts server asks the channels domain who may post and read', async (t) => {
  const secret = await unwrap(ada.client.POST('/channels', { body: { name: 'secret', visibility: 'private' } }));
  await unwrap(ada.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: bob.account.id } } }));
  const path = { channelId: secret.id };
  const posted = await bob.client.POST('/channels/{channelId}/posts', { params: { path }, body: { text: 'inside' } });
  t.equal(posted.response.status, 201, 'a member posts in a private channel');
  t.equal(posted.data!.channelId, secret.id);
  t.equal((await stranger.client.POST('/channels/{channelId}/posts', { params: { path }, body: { text: 'let me in' } })).response.status, 404, 'a stranger cannot see it');
  const read = await unwrap(ada.client.GET('/channels/{channelId}/posts', { params: { path } }));
  t.same(read.data.map((p) => p.id), [posted.data!.id]);
  t.equal((await stranger.client.GET('/posts/{postId}', { params: { path: { postId: posted.data!.id } } })).response.status, 404, 'nor its posts');
  const allow = await api.raw('OPTIONS', `/v1/channels/${secret.id}/posts`, { headers: { authorization: `Bearer ${bob.token}` } });
  t.match(allow.headers.get('allow'), /POST/, 'a member may post (channelPermissions)');
  const ownerOptions = await api.raw('OPTIONS', `/v1/posts/${posted.data!.id}`, { headers: { authorization: `Bearer ${ada.token}` } });
  t.equal(ownerOptions.headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS', "the channel's owner may delete a member's post");

  // Deleting the channel (in the instance) tells the posts server to remove its posts.
  t.equal((await ada.client.DELETE('/channels/{channelId}', { params: { path } })).response.status, 204);
  t.same(await api.sql('select id from posts.post where channel_id = $1', [secret.id]), [], 'its posts went with it');
});

t.test('a keyed publish retried is stored once, through the API and when the stub forwards it again', async (t) => {
  await checkKeyedRetry(t, apart, bob.token, '/v1/posts', { text: 'keyed' }, 'publish');

  // The outer request retried after its answer was lost: the stub forwards a key derived from the outer one.
  const caller = { accountId: bob.account.id, sessionId: randomUUID() };
  const outer = { scope: bob.account.id, operation: 'createPost', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const made = await withCall({ idempotency: outer }, () => api.services.posts.publish(caller, { text: 'forwarded' }, unitOfWork));
  const replayed = await withCall({ idempotency: outer }, () => api.services.posts.publish(caller, { text: 'forwarded' }, unitOfWork));
  t.equal(replayed.id, made.id, "the second call got the first one's result");
  t.ok(replayed.createdAt instanceof Date, 'a replayed result is decoded like a fresh one');
  t.ok(apart.server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'publish'), 'the posts server replayed it');
  const rows = await api.sql<{ text: string; n: number }>("select text, count(*)::int as n from posts.post where author_id = $1 and channel_id is null group by text order by text", [bob.account.id]);
  t.same(rows, [{ text: 'forwarded', n: 1 }, { text: 'keyed', n: 1 }], 'each stored once');
});

t.test('closing an account removes its posts on the posts server', async (t) => {
  const leaving = await api.signUp();
  const gone = await unwrap(leaving.client.POST('/posts', { body: { text: 'goodbye' } }));
  const closed = await api.raw('DELETE', `/v1/accounts/${leaving.account.id}`, { headers: { authorization: `Bearer ${leaving.token}` } });
  t.equal(closed.status, 204);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: gone.id } } })).response.status, 404);
  t.same(await api.sql('select id from posts.post where author_id = $1', [leaving.account.id]), [], 'removed through forgetAuthor');
});

t.test('outbound calls are counted per operation and outcome; the posts server counts what it answered', async (t) => {
  t.ok((await outboundCalls(apart, 'publish', 'ok')) >= 4);
  t.ok((await outboundCalls(apart, 'edit', 'rejected')) >= 2, 'domain errors are counted as rejected');
  t.ok((await outboundCalls(apart, 'forgetChannels', 'ok')) >= 1, "the instance's subscriptions' calls too");
  t.equal(total(await api.scrape(), 'agora_outbound_target_up', { target: 'posts' }), 1);
  t.ok((await internalCalls(apart, 'publish', '2xx')) >= 4);
  t.ok((await internalCalls(apart, 'edit', '4xx')) >= 2, 'the refused ones too');
});

t.test('the internal API takes only valid calls with the shared secret', async (t) => {
  const invalid = [[ada.account.id], ['not-a-uuid', { limit: 10, newestFirst: true }], [ada.account.id, { limit: 0, newestFirst: true }]];
  const page = await checkInternalApi(t, apart, 'listByAuthor', [ada.account.id, { limit: 10, newestFirst: true }], invalid);
  t.match(page, { items: [{ authorId: ada.account.id, text: 'second' }], nextCursor: null });
});

t.test('the posts server stops: 503 with Retry-After at once; it returns: served again', async (t) => {
  const kept = await unwrap(ada.client.POST('/posts', { body: { text: 'outage' } }));
  await checkOutageAndRecovery(t, apart, 'posts', () => api.raw('GET', `/v1/posts/${kept.id}`), 200);
  t.equal((await api.raw('GET', `/v1/accounts/${ada.account.id}`)).status, 200, 'other domains kept serving');
  const write = await ada.client.POST('/posts', { body: { text: 'after' } });
  t.equal(write.response.status, 201, 'writes too');
});
