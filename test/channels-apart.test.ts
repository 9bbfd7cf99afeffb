// The channels domain in a server of its own (SERVE_DOMAINS=channels) and an API instance that
// uses it through the stub (CHANNELS_SERVICE_URL), with real HTTP between them. The channel
// scenarios answer through the public API as they do in process (statuses, bodies, ETags, the
// domain errors crossing the wire as 404, 403, 409, 412); channel posts and their notifications,
// which other domains of the instance build on the channels it is told about, follow; a keyed
// create retried is made once; calls are counted; stopping the channels server gives 503s with
// Retry-After, which end by themselves when it is back.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { checkInternalApi, checkKeyedRetry, checkOutageAndRecovery, internalCalls, notificationsOf, outboundCalls, startDomainApart } from './helpers/domain-apart.ts';
import { total } from './helpers/metrics.ts';


// The instance runs the job queue: its notifications consumer asks the channels server who may hear of a post.
const apart = await startDomainApart(t, 'channels', { apiJobs: true });
const { api } = apart;
const [owner, member, stranger] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);
const anonymous = api.client();

t.test('the channel scenarios through the API instance and the channels server', async (t) => {
  const requestId = `trace-${randomUUID()}`;
  const created = await api.raw('POST', '/v1/channels', {
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ name: '  Engines  ', visibility: 'public' }),
  });
  t.equal(created.status, 201);
  const open = created.json as { id: string; createdAt: string; updatedAt: string };
  t.equal(created.headers.get('location'), `/v1/channels/${open.id}`);
  t.equal(created.headers.get('etag'), '"0"');
  t.match(open, { ownerId: owner.account.id, name: 'Engines', description: '', visibility: 'public', version: 0 });
  t.match(open.createdAt, /^\d{4}-\d\d-\d\dT/, 'dates cross the wire as dates');
  t.ok(apart.server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'create' && l.status === 200), 'the channels server logged the call under the request id');
  t.equal((await api.sql('select count(*)::int as n from channels.channel where id = $1', [open.id]))[0]!.n, 1, 'stored once');

  const secret = await unwrap(owner.client.POST('/channels', { body: { name: 'secret', description: 'About things', visibility: 'private' } }));
  t.equal((await owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: member.account.id } } })).response.status, 201, 'the owner adds a member');
  for (const [who, client, status] of [['member', member.client, 200], ['stranger', stranger.client, 404], ['anonymous', anonymous, 404]] as const) {
    t.equal((await client.GET('/channels/{channelId}', { params: { path: { channelId: secret.id } } })).response.status, status, `${who} GET of a private channel`);
  }
  const listed = await unwrap(anonymous.GET('/channels', { params: { query: { limit: 100 } } }));
  t.same(listed.data.map((c) => c.id), [open.id], 'only public channels are listed');

  // Members.
  const join = await stranger.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: open.id, accountId: stranger.account.id } } });
  t.equal(join.response.status, 201, 'anybody joins a public channel');
  t.equal(join.data!.role, 'member');
  const again = await stranger.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: open.id, accountId: stranger.account.id } } });
  t.equal(again.response.status, 200, 'joining again changes nothing');
  t.equal(again.data!.joinedAt, join.data!.joinedAt);
  const forOther = await stranger.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: open.id, accountId: member.account.id } } });
  t.equal(forOther.response.status, 403, 'only the owner adds others (the domain error crosses as a 403)');
  const ownerLeaves = await owner.client.DELETE('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: open.id, accountId: owner.account.id } } });
  t.equal(ownerLeaves.response.status, 409, 'the owner cannot leave');
  const members = await unwrap(anonymous.GET('/channels/{channelId}/members', { params: { path: { channelId: open.id } } }));
  t.same(members.data.map((m) => [m.account.id, m.role]), [[stranger.account.id, 'member'], [owner.account.id, 'owner']], 'newest first');
  const allow = await api.raw('OPTIONS', `/v1/channels/${open.id}/members/${stranger.account.id}`, { headers: { authorization: `Bearer ${stranger.token}` } });
  t.equal(allow.headers.get('allow'), 'GET, HEAD, PUT, DELETE, OPTIONS', 'permissions come from the channels server');
  t.equal((await stranger.client.DELETE('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: open.id, accountId: stranger.account.id } } })).response.status, 204, 'a member leaves');

  // Conditional changes.
  const path = { channelId: secret.id };
  t.equal((await member.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { name: 'mine' } })).response.status, 403);
  const changed = await owner.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { name: 'Renamed' } });
  t.equal(changed.response.status, 200);
  t.match(changed.data, { name: 'Renamed', description: 'About things', visibility: 'private', version: 1 });
  t.equal(changed.response.headers.get('etag'), '"1"');
  t.ok(changed.data!.updatedAt > secret.updatedAt, 'its update time moved');
  const stale = await owner.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { description: 'x' } });
  t.equal(stale.response.status, 412, 'a stale version is refused (the precondition crosses the wire)');
  t.equal(stale.error!.currentVersion, 1);
  const options = await api.raw('OPTIONS', `/v1/channels/${secret.id}`, { headers: { authorization: `Bearer ${owner.token}` } });
  t.equal(options.headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS');

  // Channel posts (the posts domain of the instance asks the channels server who may post and read),
  // and their notifications (the instance's consumer asks it who may hear of them).
  const post = await member.client.POST('/channels/{channelId}/posts', { params: { path }, body: { text: `hello @${stranger.account.handle} and @${owner.account.handle}` } });
  t.equal(post.response.status, 201, 'a member posts in a private channel');
  t.equal((await stranger.client.POST('/channels/{channelId}/posts', { params: { path }, body: { text: 'let me in' } })).response.status, 404, 'a stranger cannot');
  const read = await unwrap(member.client.GET('/channels/{channelId}/posts', { params: { path } }));
  t.same(read.data.map((p) => p.id), [post.data!.id]);
  t.equal((await stranger.client.GET('/channels/{channelId}/posts', { params: { path } })).response.status, 404);
  const heard = await notificationsOf(owner.client, 'mention', 1);
  t.match(heard, [{ type: 'mention', postId: post.data!.id, channelId: secret.id }], 'a mentioned member hears of it');
  // The mentions of a post are made together: the owner's is there, so the stranger's would be.
  t.same(await notificationsOf(stranger.client, 'mention', 0), [], 'a mention in a private channel does not reach a non-member');

  // Deleting a channel deletes its posts (the channels server tells the posts domain in its process).
  t.equal((await owner.client.DELETE('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } } })).response.status, 412);
  t.equal((await owner.client.DELETE('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(1) } } })).response.status, 204);
  t.equal((await member.client.GET('/channels/{channelId}', { params: { path } })).response.status, 404);
  t.same(await api.sql('select id from posts.post where channel_id = $1', [secret.id]), [], 'its posts went with it');
  t.same(await api.sql('select id from channels.membership where channel_id = $1', [secret.id]), [], 'and its memberships');
});

t.test('a keyed create retried is made once, through the API and when the stub forwards it again', async (t) => {
  await checkKeyedRetry(t, apart, member.token, '/v1/channels', { name: 'keyed', visibility: 'public' }, 'create');

  // The outer request retried after its answer was lost: the stub forwards a key derived from the outer one.
  const caller = { accountId: member.account.id, sessionId: randomUUID() };
  const outer = { scope: member.account.id, operation: 'createChannel', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const made = await withCall({ idempotency: outer }, () => api.services.channels.create(caller, { name: 'forwarded', visibility: 'public' }, unitOfWork));
  const replayed = await withCall({ idempotency: outer }, () => api.services.channels.create(caller, { name: 'forwarded', visibility: 'public' }, unitOfWork));
  t.equal(replayed.id, made.id, "the second call got the first one's result");
  t.ok(replayed.createdAt instanceof Date, 'a replayed result is decoded like a fresh one');
  t.ok(apart.server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'create'), 'the channels server replayed it');
  const rows = await api.sql<{ name: string; n: number }>("select name, count(*)::int as n from channels.channel where owner_id = $1 group by name order by name", [member.account.id]);
  t.same(rows, [{ name: 'forwarded', n: 1 }, { name: 'keyed', n: 1 }], 'each stored once');
});

t.test('outbound calls are counted per operation and outcome; the channels server counts what it answered', async (t) => {
  t.ok((await outboundCalls(apart, 'create', 'ok')) >= 3);
  t.ok((await outboundCalls(apart, 'access', 'rejected')) >= 1, 'domain errors are counted as rejected');
  t.ok((await outboundCalls(apart, 'whoCanSee', 'ok')) >= 1, "the notifications consumer's calls too");
  t.equal(total(await api.scrape(), 'agora_outbound_target_up', { target: 'channels' }), 1);
  t.ok((await internalCalls(apart, 'create', '2xx')) >= 3);
  t.ok((await internalCalls(apart, 'update', '4xx')) >= 2, 'the refused ones too');
});

t.test('the internal API takes only valid calls with the shared secret', async (t) => {
  const invalid = [[randomUUID()], ['not-a-uuid', []], [randomUUID(), ['not-a-uuid']]];
  t.same(await checkInternalApi(t, apart, 'whoCanSee', [randomUUID(), [owner.account.id]], invalid), [], 'nobody sees a channel that does not exist');
});

t.test('the channels server stops: 503 with Retry-After at once; it returns: served again', async (t) => {
  const room = await unwrap(owner.client.POST('/channels', { body: { name: 'outage', visibility: 'public' } }));
  await checkOutageAndRecovery(t, apart, 'channels', () => api.raw('GET', `/v1/channels/${room.id}`), 200);
  t.equal((await api.raw('GET', `/v1/accounts/${owner.account.id}`)).status, 200, 'other domains kept serving');
  const write = await owner.client.POST('/channels', { body: { name: 'after', visibility: 'public' } });
  t.equal(write.response.status, 201, 'writes too');
});
