// The SDK's idempotency keys and retries: against a scripted fetch for the retry rules, and
// against a real server for what they are for (a lost response or a key in flight never makes
// a second account).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { lockTable } from './helpers/locks.ts';
import { createAgoraClient, isReplay, unwrap, versionOf, type AgoraClientOptions } from 'agora-sdk';
import { startAgora, uniqueHandle } from './helpers/agora.ts';
import { assertConforms } from './helpers/contract.ts';

interface Sent {
  method: string;
  path: string;
  key: string | null;
  body: string;
}

type Step = Response | Error | (() => Response);

function problem(status: number, type: string, headers: Record<string, string> = {}): Response {
  const body = { type: `urn:agora:problem:${type}`, title: type, status, requestId: 'r' };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json', ...headers } });
}

const account = { id: randomUUID(), handle: 'ada', displayName: 'Ada', bio: null, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', version: 0 };
const created = () => new Response(JSON.stringify(account), { status: 201, headers: { 'content-type': 'application/json', etag: '"0"' } });
const ok = () => new Response(JSON.stringify(account), { status: 200, headers: { 'content-type': 'application/json', etag: '"7"' } });

/** A client whose fetch plays `steps` in order and records what was sent. */
function scripted(steps: Step[], options: Partial<AgoraClientOptions> = {}) {
  const sent: Sent[] = [];
  const fetch = async (request: Request) => {
    sent.push({ method: request.method, path: new URL(request.url).pathname, key: request.headers.get('idempotency-key'), body: await request.text() });
    const step = steps.shift();
    if (!step) throw new Error('the script ran out');
    if (step instanceof Error) throw step;
    return typeof step === 'function' ? step() : step;
  };
  const client = createAgoraClient({ baseUrl: 'http://agora.test/v1', fetch, retry: { baseDelayMs: 1, maxDelayMs: 2000 }, ...options });
  return { client, sent };
}

const newAccount = () => {
  const handle = uniqueHandle('sdk');
  return { email: `${handle.toLowerCase()}@example.com`, password: 'correct horse battery staple', handle, displayName: 'SDK' };
};
const networkError = () => new TypeError('fetch failed');

t.test('creating calls carry a fresh Idempotency-Key unless the caller passes one', async (t) => {
  const { client, sent } = scripted([created(), created(), created(), ok()]);
  await client.POST('/accounts', { body: newAccount() });
  await client.POST('/accounts', { body: newAccount(), params: { header: { 'Idempotency-Key': 'my-own-key' } } });
  await client.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } });
  await client.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
  t.match(sent[0]!.key, /^[0-9a-f-]{36}$/, 'a UUID');
  t.equal(sent[1]!.key, 'my-own-key');
  t.equal(sent[2]!.key, null, 'sign-in is not idempotent: no key');
  t.equal(sent[3]!.key, null);
});

t.test('retries network failures, 503, 429 and 409-in-flight with the same key and body', async (t) => {
  const { client, sent } = scripted(
    [networkError(), problem(503, 'service-unavailable', { 'retry-after': '0' }), problem(429, 'rate-limited', { 'retry-after': '0' }), problem(409, 'idempotency-in-flight', { 'retry-after': '0' }), created()],
    { retry: { attempts: 5, baseDelayMs: 1 } },
  );
  const body = newAccount();
  const result = await unwrap(client.POST('/accounts', { body }));
  t.equal(result.id, account.id);
  t.equal(sent.length, 5);
  t.equal(new Set(sent.map((s) => s.key)).size, 1, 'one key for every attempt');
  t.ok(sent.every((s) => s.body === JSON.stringify(body)), 'the same body every time');
});

t.test('Retry-After is honoured', async (t) => {
  const { client, sent } = scripted([problem(409, 'idempotency-in-flight', { 'retry-after': '1' }), created()]);
  const started = Date.now();
  await unwrap(client.POST('/accounts', { body: newAccount() }));
  t.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  t.equal(sent.length, 2);
});

t.test('what is not retried', async (t) => {
  const conflict = scripted([problem(409, 'conflict')]);
  t.equal((await conflict.client.POST('/accounts', { body: newAccount() })).response.status, 409);
  t.equal(conflict.sent.length, 1, 'a business 409 (handle taken) is an answer, not a transient failure');

  const signIn = scripted([networkError()]);
  await t.rejects(signIn.client.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } }), /fetch failed/);
  t.equal(signIn.sent.length, 1, 'a POST without a key may have run: not repeated');

  const signIn503 = scripted([problem(503, 'service-unavailable')]);
  t.equal((await signIn503.client.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } })).response.status, 503);
  t.equal(signIn503.sent.length, 1);

  const signIn429 = scripted([problem(429, 'rate-limited', { 'retry-after': '0' }), created()]);
  t.equal((await signIn429.client.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } })).response.status, 201);
  t.equal(signIn429.sent.length, 2, 'a 429 was refused before it ran: any request may be retried');

  const update = scripted([networkError()]);
  await t.rejects(update.client.PATCH('/accounts/{accountId}', { params: { path: { accountId: account.id }, header: { 'If-Match': '"0"' } }, body: { bio: 'x' } }));
  t.equal(update.sent.length, 1, 'PATCH is not idempotent');

  const read = scripted([networkError(), ok()]);
  t.equal((await read.client.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } })).response.status, 200);
  t.equal(read.sent.length, 2, 'a GET is');
});

t.test('retries are bounded: attempts, Retry-After beyond maxDelayMs, total time, off switch, abort', async (t) => {
  const always503 = () => problem(503, 'service-unavailable');
  const bounded = scripted(Array.from({ length: 10 }, () => always503));
  t.equal((await bounded.client.GET('/sessions/me')).response.status, 503);
  t.equal(bounded.sent.length, 4, 'four attempts by default');

  const tooLong = scripted([problem(429, 'rate-limited', { 'retry-after': '60' }), ok()]);
  t.equal((await tooLong.client.GET('/sessions/me')).response.status, 429, 'a minute is not waited for');
  t.equal(tooLong.sent.length, 1);

  const slow = scripted(Array.from({ length: 10 }, () => () => problem(503, 'service-unavailable', { 'retry-after': '1' })), {
    retry: { attempts: 10, maxElapsedMs: 1500, maxDelayMs: 5000 },
  });
  const started = Date.now();
  t.equal((await slow.client.GET('/sessions/me')).response.status, 503);
  t.equal(slow.sent.length, 2, 'a third attempt would start after maxElapsedMs');
  t.ok(Date.now() - started < 1500);

  const off = scripted([networkError()], { retry: false });
  await t.rejects(off.client.POST('/accounts', { body: newAccount() }));
  t.equal(off.sent.length, 1);

  const aborted = scripted([problem(409, 'idempotency-in-flight', { 'retry-after': '1' }), created()]);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('gave up')), 50);
  await t.rejects(aborted.client.POST('/accounts', { body: newAccount(), signal: controller.signal }), /gave up/);
  t.equal(aborted.sent.length, 1, 'no attempt after the abort');
});

t.test('version helpers', async (t) => {
  t.equal(versionOf(ok()), 7);
  t.equal(versionOf(new Response(null, { headers: { etag: 'W/"7"' } })), undefined, 'only strong tags');
  t.equal(isReplay(new Response(null, { headers: { 'idempotent-replayed': 'true' } })), true);
  t.equal(isReplay(ok()), false);
});

t.test('against a real server', async (t) => {
  const agora = await startAgora(t);
  const checking = async (request: Request) => {
    const response = await fetch(request);
    assertConforms({ method: request.method, url: request.url, status: response.status, headers: response.headers, body: await response.clone().text() });
    return response;
  };

  t.test('a response lost on the way back is retried with the same key: one account', async (t) => {
    let lost = 0;
    const lossy = async (request: Request) => {
      const response = await checking(request);
      if (lost++ === 0) throw new TypeError('socket hang up'); // the server did the work; the client never hears
      return response;
    };
    const client = createAgoraClient({ baseUrl: agora.baseUrl, fetch: lossy, retry: { baseDelayMs: 10 } });
    const body = newAccount();
    const { data, response } = await client.POST('/accounts', { body });
    t.equal(response.status, 201);
    t.ok(isReplay(response), 'the retry got the stored response');
    t.equal(versionOf(response), 0);
    const rows = await agora.sql('select id from accounts.account where handle = $1', [body.handle]);
    t.same(rows.map((r) => r.id), [data!.id], 'exactly one account, the one returned');
  });

  t.test('a call that meets its own key in flight waits for it and gets its result', async (t) => {
    const blocker = await lockTable(agora.databaseUrl, 'accounts.account');

    const key = randomUUID();
    const body = newAccount();
    const statuses: number[] = [];
    const observing = async (request: Request) => {
      const response = await checking(request);
      statuses.push(response.status);
      return response;
    };
    const first = createAgoraClient({ baseUrl: agora.baseUrl, fetch: checking, retry: false });
    const second = createAgoraClient({ baseUrl: agora.baseUrl, fetch: observing });
    const original = first.POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
    for (let i = 0; i < 100; i++) {
      const [{ held }] = (await agora.sql(`select count(*)::int as held from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`)) as [{ held: number }];
      if (held > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const retried = second.POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
    setTimeout(() => void blocker.release(), 300);
    const [a, b] = await Promise.all([original, retried]);
    t.equal(a.response.status, 201);
    t.equal(b.response.status, 201);
    t.equal(statuses[0], 409, 'the second call first met the key in flight');
    t.ok(isReplay(b.response));
    t.equal(b.data!.id, a.data!.id);
    t.equal(await agora.count(`accounts.account where handle = '${body.handle}'`), 1);
  });
});
