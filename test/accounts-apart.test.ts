// The accounts domain in a server of its own (SERVE_DOMAINS=accounts), used by two API instances
// through the stub (ACCOUNTS_SERVICE_URL), with real HTTP between them. Sign-up, sign-in, every
// request's token, profiles and closing an account go through the domain server, with the
// statuses and bodies of the public API; the other domains embed its summaries. A keyed sign-up
// is made once; a sign-out is seen at once on every instance; calls are counted; stopping the
// domain server gives prompt 503s with Retry-After, which end by themselves when it returns.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { withCall } from '../src/services/call-context.ts';
import { uniqueHandle } from './helpers/agora.ts';
import { checkCounted, checkOutage, checkRecovered, serveApart } from './helpers/served-apart.ts';


const apart = await serveApart(t, 'accounts', { instances: 2 });
const [a, b] = apart.instances as [(typeof apart.instances)[number], (typeof apart.instances)[number]];
const server = apart.server;
const PASSWORD = 'correct horse battery staple';

t.test('sign-up, sign-in, profiles and lists through the instances and the accounts server', async (t) => {
  const handle = uniqueHandle('apart');
  const email = `${handle}@example.com`;
  const requestId = `trace-${randomUUID()}`;
  const made = await a.raw('POST', '/v1/accounts', {
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ email, password: PASSWORD, handle, displayName: ' Ada ' }),
  });
  t.equal(made.status, 201);
  t.equal(made.headers.get('location'), `/v1/accounts/${made.json.id}`);
  t.match(made.json, { handle, displayName: 'Ada', bio: null, version: 0 });
  t.match(made.json.createdAt, /^\d{4}-\d\d-\d\dT.*Z$/, 'dates cross the wire as dates');
  t.ok(server.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'signUp' && l.status === 200), 'the accounts server logged the call under the request id');
  const taken = await b.client().POST('/accounts', { body: { email: `other-${email}`, password: PASSWORD, handle: handle.toUpperCase(), displayName: 'Not Ada' } });
  t.equal(taken.response.status, 409, 'a taken handle is a conflict, whatever its case');

  const anonymous = b.client();
  const wrong = await anonymous.POST('/sessions', { body: { email, password: 'not the password' } });
  t.equal(wrong.response.status, 401);
  t.equal(wrong.error!.type, 'urn:agora:problem:invalid-credentials');
  const session = await unwrap(anonymous.POST('/sessions', { body: { email: email.toUpperCase(), password: PASSWORD } }));
  t.equal(session.account.id, made.json.id);
  const me = a.client(session.token);
  t.equal((await unwrap(me.GET('/sessions/me'))).id, made.json.id, 'the token works on the other instance');
  t.equal((await a.client('not-a-token').GET('/sessions/me')).response.status, 401, 'an unknown token is refused');

  const accountId = made.json.id as string;
  const stale = await me.PATCH('/accounts/{accountId}', { params: { path: { accountId }, header: { 'If-Match': '"7"' } }, body: { bio: 'hi' } });
  t.equal(stale.response.status, 412, 'a stale version crosses the wire as a 412');
  t.equal(stale.error!.currentVersion, 0);
  const patched = await me.PATCH('/accounts/{accountId}', { params: { path: { accountId }, header: { 'If-Match': '"0"' } }, body: { displayName: 'Ada L.', bio: 'hi' } });
  t.equal(patched.response.status, 200);
  t.match(patched.data, { displayName: 'Ada L.', bio: 'hi', version: 1 });
  t.equal(patched.response.headers.get('etag'), '"1"');
  const stranger = await b.signUp();
  t.equal((await stranger.client.PATCH('/accounts/{accountId}', { params: { path: { accountId }, header: { 'If-Match': '*' } }, body: { bio: 'x' } })).response.status, 403, "somebody else's: forbidden");
  t.equal((await b.raw('OPTIONS', `/v1/accounts/${accountId}`, { headers: { authorization: `Bearer ${session.token}` } })).headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS', 'permissions come from the accounts server');
  t.equal((await b.client().GET('/accounts/{accountId}', { params: { path: { accountId: randomUUID() } } })).response.status, 404);

  const listed = await unwrap(b.client().GET('/accounts', { params: { query: { handle: handle.slice(0, 12) } } }));
  t.ok(listed.data.some((x) => x.id === accountId), 'listed by handle prefix');

  // Another domain (the friend request, built in the instance) embeds the summary from the accounts server.
  const request = await unwrap(stranger.client.POST('/friend-requests', { body: { accountId } }));
  t.same(request.recipient, { id: accountId, handle, displayName: 'Ada L.' });
  const mention = await unwrap(me.POST('/posts', { body: { text: `hello @${stranger.account.handle}` } }));
  t.same(mention.author, { id: accountId, handle, displayName: 'Ada L.' });
});

t.test('a keyed sign-up retried on another instance is made once', async (t) => {
  const handle = uniqueHandle('keyed');
  const body = JSON.stringify({ email: `${handle}@example.com`, password: PASSWORD, handle, displayName: 'Keyed' });
  const key = randomUUID();
  const send = (instance: typeof a) => instance.raw('POST', '/v1/accounts', { headers: { 'content-type': 'application/json', 'idempotency-key': key }, body });
  const first = await send(a);
  t.equal(first.status, 201);
  const again = await send(b);
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.json.id, first.json.id);
  t.equal((await a.sql('select count(*)::int as n from accounts.account where handle = $1', [handle]))[0]!.n, 1, 'stored once');

  // The internal call forwarded again under one outer key (its outer record lost) is replayed, not run twice.
  const inner = uniqueHandle('inner');
  const input = { email: `${inner}@example.com`, password: PASSWORD, handle: inner, displayName: 'Inner' };
  const outer = { scope: 'anonymous', operation: 'createAccount', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const once = await withCall({ idempotency: outer }, () => a.services.accounts.signUp(input, unitOfWork));
  const twice = await withCall({ idempotency: outer }, () => b.services.accounts.signUp(input, unitOfWork));
  t.equal(twice.id, once.id, "the second call got the first one's result");
  t.ok(server.logs.some((l) => l.msg === 'internal call replayed from its idempotency key' && l.operation === 'signUp'), 'the accounts server replayed it');
  t.equal((await a.sql('select count(*)::int as n from accounts.account where handle = $1', [inner]))[0]!.n, 1, 'one account stored');
});

t.test('signing out on one instance is seen at once on the other', async (t) => {
  const who = await a.signUp();
  const other = b.client(who.token);
  t.equal((await other.GET('/sessions/me')).response.status, 200);
  t.equal((await who.client.DELETE('/sessions/me')).response.status, 204);
  t.equal((await other.GET('/sessions/me')).response.status, 401, 'refused at once elsewhere');
  t.equal((await who.client.GET('/sessions/me')).response.status, 401);

  // The purge job (run by the instances' worker) purges through the accounts server.
  const expiring = await a.signUp();
  await a.sql(`update accounts.session set expires_at = now() - interval '1 minute' where account_id = $1`, [expiring.account.id]);
  t.ok((await a.services.sessions.purgeExpired()) >= 1, 'expired sessions purged');
  t.equal((await a.sql('select count(*)::int as n from accounts.session where account_id = $1', [expiring.account.id]))[0]!.n, 0);
});

t.test('closing an account: its sessions end, and the other domains forget it', async (t) => {
  const [gone, friend] = await Promise.all([a.signUp(), a.signUp()]);
  await unwrap(gone.client.POST('/friend-requests', { body: { accountId: friend.account.id } }));
  const closed = await b.client(gone.token).DELETE('/accounts/{accountId}', { params: { path: { accountId: gone.account.id } } });
  t.equal(closed.response.status, 204);
  t.equal((await gone.client.GET('/sessions/me')).response.status, 401, 'its token is refused');
  t.equal((await a.client().GET('/accounts/{accountId}', { params: { path: { accountId: gone.account.id } } })).response.status, 404);
  t.equal((await a.sql('select count(*)::int as n from social.friend_request where sender_id = $1', [gone.account.id]))[0]!.n, 0, 'its friend request is gone (account.closed, on the accounts server)');
  t.same((await unwrap(friend.client.GET('/friend-requests'))).data, []);
});

t.test('outbound calls are counted and timed per operation; the domain server counts what it answered', async (t) => {
  await checkCounted(t, apart, a, {
    ok: { authenticate: 1, summaries: 1, signUp: 1 },
    rejected: { updateProfile: 1 },
    timed: 'signUp',
    answered: 'authenticate',
  });
});

t.test('the accounts server stops: 503 with Retry-After; it returns: served again', async (t) => {
  const who = await b.signUp();
  await server.stop();
  await checkOutage(t, apart, b, { method: 'GET', path: '/v1/sessions/me', token: who.token, operation: 'authenticate' });
  const signIn = await b.raw('POST', '/v1/sessions', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: who.email, password: who.password }) });
  t.equal(signIn.status, 503, 'signing in too');
  t.equal(signIn.headers.get('retry-after'), '10');
  t.equal((await fetch(`${b.origin}/healthz`)).status, 200, 'the instance itself is up');

  await server.start();
  t.equal((await who.client.GET('/sessions/me')).response.status, 200, 'served again, without restarting the instance');
  await checkRecovered(t, apart, b);
});
