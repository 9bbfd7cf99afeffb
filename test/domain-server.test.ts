// The social domain in a server of its own: a domain server (SERVE_DOMAINS=social) and two API
// instances that use it through the stub (SOCIAL_SERVICE_URL), all on one database, with real
// HTTP between them. The social scenarios pass through either instance; calls are counted in the
// instances' metrics and logged on both sides under the request's id; a keyed write forwarded
// twice is made once; stopping the domain server turns its operations into prompt 503s with
// Retry-After (the other domains keep serving), which end by themselves when it is back on the
// same port. Settings that name a domain that cannot be served apart are refused at start.
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { loadConfig, ConfigError } from '../src/config.ts';
import { boot, type Booted } from '../src/boot.ts';
import { loggerOptions } from '../src/http/logger.ts';
import { withCall } from '../src/services/call-context.ts';
import { startAgora } from './helpers/agora.ts';
import { notificationsOf as notificationsOfClient } from './helpers/domain-apart.ts';
import { total } from './helpers/metrics.ts';
import { cloneTemplate, freePort } from './helpers/postgres.ts';


const TOKEN = `internal-${randomUUID()}`;
const DEADLINE_MS = 1500;
const { url: databaseUrl, drop } = await cloneTemplate();
const socialPort = await freePort();
const socialUrl = `http://127.0.0.1:${socialPort}`;

/** A social domain server on `socialPort`, with its job queue (it publishes the social events) and a worker. */
async function startSocialServer(): Promise<Booted & { logs: Record<string, any>[] }> {
  const logs: Record<string, any>[] = [];
  const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
  const config = loadConfig({ SERVE_DOMAINS: 'social', INTERNAL_API_TOKEN: TOKEN, DATABASE_URL: databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' });
  const server = await boot(config, {
    logger: loggerOptions({ level: 'info', pretty: false, stream }),
    databaseUrl,
    poolMax: 5,
    listen: { host: '127.0.0.1', port: socialPort, metricsPort: 0 },
    migrate: false,
    jobs: true,
    jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 },
  });
  return Object.assign(server, { logs });
}

let social = await startSocialServer();
const apiEnv = { SOCIAL_SERVICE_URL: socialUrl, INTERNAL_API_TOKEN: TOKEN, REMOTE_CALL_TIMEOUT_MS: String(DEADLINE_MS) };
const a = await startAgora(t, apiEnv, { databaseUrl });
const b = await startAgora(t, apiEnv, { databaseUrl });
t.teardown(async () => {
  await social.close();
  await drop();
});

const [ada, bob, cyd] = await Promise.all([a.signUp(), a.signUp(), b.signUp()]);
const on = (instance: typeof a, who: { token: string }) => instance.client(who.token);

const notificationsOf = (who: { token: string }, type: string, count: number) => notificationsOfClient(on(b, who), type, count);

t.test('the social scenarios through two API instances and the social server', async (t) => {
  const requestId = `trace-${randomUUID()}`;
  const sent = await a.raw('POST', '/v1/friend-requests', {
    headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ accountId: bob.account.id }),
  });
  t.equal(sent.status, 201, 'sent through instance a');
  const request = sent.json as { id: string; sender: { id: string }; recipient: { id: string }; createdAt: string };
  t.equal(sent.headers.get('location'), `/v1/friend-requests/${request.id}`);
  t.equal(request.sender.id, ada.account.id);
  t.match(request.createdAt, /^\d{4}-\d\d-\d\dT/, 'dates cross the wire as dates');
  t.equal((await a.sql('select count(*)::int as n from social.friend_request where id = $1', [request.id]))[0]!.n, 1, 'stored once');

  t.ok(social.logs.some((l) => l.requestId === requestId && l.msg === 'internal call' && l.operation === 'sendRequest' && l.status === 200), 'the social server logged the call under the request id');
  t.ok(a.logs.some((l) => l.requestId === requestId), 'and so did the instance');

  const incoming = await unwrap(on(b, bob).GET('/friend-requests'));
  t.same(incoming.data.map((r) => r.id), [request.id], 'seen through instance b');
  t.equal((await on(b, cyd).GET('/friend-requests/{requestId}', { params: { path: { requestId: request.id } } })).response.status, 404, 'a stranger cannot see it (the domain error crosses as a 404)');
  const twice = await on(a, ada).POST('/friend-requests', { body: { accountId: bob.account.id } });
  t.equal(twice.response.status, 409, 'a duplicate is a conflict');
  const self = await on(a, ada).POST('/friend-requests', { body: { accountId: ada.account.id } });
  t.equal(self.response.status, 400, 'yourself is invalid input, pointed at its field');
  t.same((self.error as { errors?: unknown[] }).errors, [{ pointer: '/accountId', detail: 'cannot be yourself' }]);

  const allow = await b.raw('OPTIONS', `/v1/accounts/${bob.account.id}/friends/${ada.account.id}`, { headers: { authorization: `Bearer ${bob.token}` } });
  t.equal(allow.headers.get('allow'), 'GET, HEAD, PUT, OPTIONS', 'permissions come from the social server');

  const accepted = await on(b, bob).PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(accepted.response.status, 201);
  const again = await on(a, bob).PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(again.response.status, 200, 'accepting again changes nothing');
  t.equal(again.data!.since, accepted.data!.since);
  t.equal((await a.sql('select count(*)::int as n from social.friendship where account_id = $1', [bob.account.id]))[0]!.n, 1);

  // A keyed request retried (on another instance) is replayed, and the request is stored once.
  const eve = await b.signUp();
  const key = randomUUID();
  const keyed = (instance: typeof a) =>
    instance.raw('POST', '/v1/friend-requests', {
      headers: { authorization: `Bearer ${eve.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ accountId: ada.account.id }),
    });
  const first = await keyed(a);
  t.equal(first.status, 201);
  const retried = await keyed(b);
  t.equal(retried.status, 201, 'the retry is answered');
  t.equal(retried.headers.get('idempotent-replayed'), 'true', 'from the record');
  t.equal(retried.json.id, first.json.id);
  t.equal((await a.sql('select count(*)::int as n from social.friend_request where sender_id = $1', [eve.account.id]))[0]!.n, 1, 'stored once');

  const friends = await unwrap(a.client().GET('/accounts/{accountId}/friends', { params: { path: { accountId: ada.account.id } } }));
  t.same(friends.data.map((f) => f.account.id), [bob.account.id], 'mutual, seen through instance a');
  const one = await b.client().GET('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(one.response.status, 200);

  // The feed, which the posts domain (in each instance) builds from the friends the social server lists.
  await unwrap(on(a, bob).POST('/posts', { body: { text: `bob ${requestId}` } }));
  const feed = (await unwrap(on(b, ada).GET('/feed', { params: { query: { limit: 100 } } }))).data.map((p) => p.text);
  t.ok(feed.includes(`bob ${requestId}`), "a friend's post is in the feed");
  t.notOk((await unwrap(on(b, cyd).GET('/feed', { params: { query: { limit: 100 } } }))).data.some((p) => p.text === `bob ${requestId}`), "not in a stranger's");

  // Declining.
  const fromCyd = await unwrap(on(b, cyd).POST('/friend-requests', { body: { accountId: bob.account.id } }));
  t.equal((await on(a, bob).DELETE('/friend-requests/{requestId}', { params: { path: { requestId: fromCyd.id } } })).response.status, 204, 'declined');
  t.same((await unwrap(on(a, bob).GET('/friend-requests'))).data, []);

  // The social server published the durable events; a worker made the notifications.
  const received = await notificationsOf(bob, 'friendRequestReceived', 2);
  t.same(received.map((n) => n.friendRequestId).toSorted(), [request.id, fromCyd.id].toSorted(), 'the recipient was notified of each request');
  t.equal((await notificationsOf(ada, 'friendRequestAccepted', 1)).length, 1, 'and the sender of the acceptance, once');

  // Unfriending.
  t.equal((await on(a, ada).DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: bob.account.id } } })).response.status, 204);
  t.same((await unwrap(b.client().GET('/accounts/{accountId}/friends', { params: { path: { accountId: bob.account.id } } }))).data, []);
  t.notOk((await unwrap(on(b, ada).GET('/feed', { params: { query: { limit: 100 } } }))).data.some((p) => p.text === `bob ${requestId}`), 'the feed follows');
});

t.test('outbound calls are counted and timed per target and operation; the server counts what it answered', async (t) => {
  const scrape = await a.scrape();
  t.ok(total(scrape, 'agora_outbound_requests_total', { target: 'social', operation: 'sendRequest', outcome: 'ok' }) >= 1);
  t.ok(total(scrape, 'agora_outbound_requests_total', { target: 'social', operation: 'sendRequest', outcome: 'rejected' }) >= 2, 'domain errors are counted as rejected');
  t.ok(total(scrape, 'agora_outbound_request_duration_seconds_count', { target: 'social', operation: 'sendRequest' }) >= 3);
  t.equal(total(scrape, 'agora_outbound_target_up', { target: 'social' }), 1);
  const scrapeB = await b.scrape();
  t.ok(total(scrapeB, 'agora_outbound_requests_total', { target: 'social', operation: 'acceptRequest', outcome: 'ok' }) >= 1);
  const server = await fetch(social.metricsUrl!);
  const text = await server.text();
  t.match(text, /agora_internal_requests_total\{target="social",operation="sendRequest",status_class="2xx"\} [1-9]/);
});

t.test('a keyed write forwarded again (the outer request retried) is made once', async (t) => {
  const dan = await a.signUp();
  const caller = { accountId: dan.account.id, sessionId: randomUUID() };
  const outer = { scope: dan.account.id, operation: 'createFriendRequest', key: randomUUID() };
  const unitOfWork = { transaction: true as const, query: async () => [] };
  const first = await withCall({ idempotency: outer }, () => a.services.social.sendRequest(caller, cyd.account.id, unitOfWork));
  const again = await withCall({ idempotency: outer }, () => b.services.social.sendRequest(caller, cyd.account.id, unitOfWork));
  t.equal(again.id, first.id, 'the second call got the first one\'s result');
  t.equal((await a.sql('select count(*)::int as n from social.friend_request where sender_id = $1', [dan.account.id]))[0]!.n, 1, 'one request stored');
  t.ok(social.logs.some((l) => l.msg === 'internal call replayed from its idempotency key'), 'the social server replayed it');
  const other = await withCall({ idempotency: { ...outer, key: randomUUID() } }, () => a.services.social.sendRequest(caller, cyd.account.id, unitOfWork).catch((e: Error) => e));
  t.match(other, { kind: 'conflict' }, 'another key runs afresh: the request exists already');
});

t.test('the internal API: only with the shared secret, only valid calls, and not on the public port', async (t) => {
  const call = (headers: Record<string, string>, body: unknown) =>
    fetch(`${socialUrl}/internal/social/friendIdsOf`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const anonymous = await call({}, { args: [ada.account.id] });
  t.equal(anonymous.status, 401);
  t.match(await anonymous.json(), { kind: 'unauthenticated' });
  const wrong = await call({ 'x-internal-token': `${TOKEN}x` }, { args: [ada.account.id] });
  t.equal(wrong.status, 401);
  for (const args of [[42], ['not-a-uuid'], [], [ada.account.id, ada.account.id]]) {
    const invalid = await call({ 'x-internal-token': TOKEN }, { args });
    t.equal(invalid.status, 400, `${JSON.stringify(args)} is refused`);
    t.match(await invalid.json(), { kind: 'bad-call' });
  }
  const ok = await call({ 'x-internal-token': TOKEN }, { args: [ada.account.id] });
  t.equal(ok.status, 200);
  t.same(await ok.json(), []);
  const ready = await fetch(`${socialUrl}/readyz`);
  t.equal(ready.status, 200);
  t.match(await ready.json(), { status: 'ready', serves: ['social'] });
  const publicPort = await fetch(`${a.origin}/internal/social/friendIdsOf`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-internal-token': TOKEN }, body: '{"args":[]}' });
  t.equal(publicPort.status, 404, 'an API instance serves no internal route');
  await publicPort.body?.cancel();
  const publicApi = await fetch(`${socialUrl}/v1/accounts/me`);
  t.equal(publicApi.status, 404, 'the social server serves no public route');
  await publicApi.body?.cancel();
});

t.test('the social server stops: its operations answer 503 with Retry-After at once, the rest is served; it returns: they recover', async (t) => {
  await social.close();
  const started = Date.now();
  const down = await a.raw('GET', `/v1/accounts/${ada.account.id}/friends`);
  // A refused connection is answered at once; the bound is the call's deadline, plus slack for a busy machine.
  t.ok(Date.now() - started < DEADLINE_MS + 2500, 'promptly (within the deadline)');
  t.equal(down.status, 503);
  t.equal(down.headers.get('retry-after'), '10');
  t.match(down.json, { type: 'urn:agora:problem:service-unavailable', status: 503 });
  // Raw: the SDK would wait out Retry-After and try again.
  const write = await b.raw('POST', '/v1/friend-requests', {
    headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ accountId: cyd.account.id }),
  });
  t.equal(write.status, 503, 'writes too, on the other instance');
  t.equal(write.headers.get('retry-after'), '10');
  t.equal((await a.raw('GET', `/v1/accounts/${ada.account.id}`)).status, 200, 'other domains keep serving');
  const ready = await fetch(`${a.origin}/readyz`);
  t.equal(ready.status, 200, 'the instance stays in the load balancer');
  t.match(await ready.json(), { status: 'degraded', checks: { domains: { social: 'unreachable' } } });
  const scrape = await a.scrape();
  t.ok(total(scrape, 'agora_outbound_requests_total', { target: 'social', operation: 'listFriends', outcome: 'unavailable' }) >= 1);
  t.equal(total(scrape, 'agora_outbound_target_up', { target: 'social' }), 0);
  t.notOk(a.logs.some((l) => l.level >= 50), 'no error logged: an outage is expected');
  t.ok(a.logs.some((l) => l.msg?.includes('the social domain server is unreachable')), 'the outage is logged once where it begins');

  social = await startSocialServer();
  const back = await on(b, ada).POST('/friend-requests', { body: { accountId: cyd.account.id } });
  t.equal(back.response.status, 201, 'served again, without restarting the instances');
  t.equal((await a.raw('GET', `/v1/accounts/${ada.account.id}/friends`)).status, 200);
  t.match(await (await fetch(`${a.origin}/readyz`)).json(), { status: 'ready', checks: { domains: { social: 'ok' } } });
});

t.test('a domain server that accepts but never answers: 503 at the deadline, counted as a timeout', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const { port } = silent.address() as { port: number };
  const deadline = 300;
  const stuck = await startAgora(t, { SOCIAL_SERVICE_URL: `http://127.0.0.1:${port}`, INTERNAL_API_TOKEN: TOKEN, REMOTE_CALL_TIMEOUT_MS: String(deadline) }, { databaseUrl });
  const started = Date.now();
  const answer = await stuck.raw('GET', `/v1/accounts/${ada.account.id}/friends`);
  const took = Date.now() - started;
  t.equal(answer.status, 503);
  t.equal(answer.headers.get('retry-after'), '10');
  t.ok(took >= deadline && took < deadline + 2000, `answered at the deadline (${took} ms)`);
  const scrape = await stuck.scrape();
  t.equal(total(scrape, 'agora_outbound_requests_total', { target: 'social', operation: 'listFriends', outcome: 'timeout' }), 1);
});

t.test('only domains with an internal contract can be served apart, and the internal API needs its secret', async (t) => {
  const base = { DATABASE_URL: databaseUrl, INTERNAL_API_TOKEN: TOKEN };
  const start = (env: Record<string, string>) => boot(loadConfig({ ...base, ...env }), { logger: false, databaseUrl, migrate: false, jobs: false, listen: { host: '127.0.0.1', port: 0, metricsPort: 0 } });
  await t.rejects(start({ SERVE_DOMAINS: 'idempotency' }), /SERVE_DOMAINS=idempotency: domain "idempotency" has no internal contract.*can be served apart are: .*social/);
  await t.rejects(start({ IDEMPOTENCY_SERVICE_URL: 'http://127.0.0.1:1' }), /IDEMPOTENCY_SERVICE_URL: domain "idempotency" has no internal contract.*social/);
  await t.rejects(start({ SERVE_DOMAINS: 'gossip' }), /there is no domain "gossip".*social/);
  t.throws(() => loadConfig({ SOCIAL_SERVICE_URL: socialUrl, INTERNAL_API_TOKEN: 'short' }), new ConfigError('INTERNAL_API_TOKEN must be at least 16 characters (the same on every process): it protects the internal API'));
  t.throws(() => loadConfig({ SERVE_DOMAINS: 'social', INTERNAL_API_TOKEN: 'short' }), /INTERNAL_API_TOKEN must be at least 16/);
  t.throws(() => loadConfig({ SOCIAL_SERVICE_URL: 'ftp://x', INTERNAL_API_TOKEN: TOKEN }), /SOCIAL_SERVICE_URL must be an http/);
  t.throws(() => loadConfig({ SOCIAL_SERVICE_URL: socialUrl, SERVE_DOMAINS: 'social', INTERNAL_API_TOKEN: TOKEN }), /cannot both serve/);
  t.throws(() => loadConfig({ REMOTE_CALL_TIMEOUT_MS: '10' }), /REMOTE_CALL_TIMEOUT_MS/);
});

t.test('without INTERNAL_API_TOKEN, a domain server answers callers on its own machine, and says so at start', async (t) => {
  const port = await freePort();
  const logs: Record<string, any>[] = [];
  const open = await boot(loadConfig({ SERVE_DOMAINS: 'social', DATABASE_URL: databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' }), {
    logger: loggerOptions({ level: 'info', pretty: false, stream: { write: (line: string) => void logs.push(JSON.parse(line)) } }),
    databaseUrl,
    poolMax: 3,
    listen: { host: '127.0.0.1', port, metricsPort: 0 },
    migrate: false,
    jobs: false,
  });
  t.teardown(() => open.close());
  t.ok(logs.some((l) => l.level === 40 && /no INTERNAL_API_TOKEN: the internal API answers callers on this machine only/.test(l.msg)), 'a warning at start');
  const caller = await startAgora(t, { SOCIAL_SERVICE_URL: `http://127.0.0.1:${port}`, REMOTE_CALL_TIMEOUT_MS: String(DEADLINE_MS) }, { databaseUrl });
  const friends = await unwrap(caller.client().GET('/accounts/{accountId}/friends', { params: { path: { accountId: ada.account.id } } }));
  t.ok(Array.isArray(friends.data), 'an API instance without the token is served over loopback');
  // A call with no token from this machine gets past the caller check (to the contract's).
  const direct = await fetch(`http://127.0.0.1:${port}/internal/social/listFriends`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"args":[]}' });
  t.equal(direct.status, 400, 'past the caller check, to the contract check');
  await direct.body?.cancel();
});
