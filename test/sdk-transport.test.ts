// The SDK's transport against a scripted fetch: backoff with full jitter, Retry-After in both
// forms, the timeout per attempt, cancellation, hooks, typed errors for responses that are not
// problem documents, and 304s.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import {
  AgoraConnectionError,
  AgoraError,
  AgoraTimeoutError,
  backoff,
  createAgoraClient,
  DEFAULT_RETRY,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
  unwrap,
  unwrapIfModified,
  type AgoraClientOptions,
  type RetryEvent,
} from 'agora-sdk';
import { hangingFetch } from './helpers/fake-fetch.ts';

const accountId = randomUUID();
const account = { id: accountId, handle: 'ada', displayName: 'Ada', bio: null, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', version: 0 };
const ok = () => new Response(JSON.stringify(account), { status: 200, headers: { 'content-type': 'application/json', etag: '"0"' } });
const problem = (status: number, type: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `urn:agora:problem:${type}`, title: type, status, requestId: 'r1' }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });

function scripted(steps: ((request: Request) => Response | Promise<Response>)[], options: Partial<AgoraClientOptions> = {}) {
  const sent: Request[] = [];
  const retries: RetryEvent[] = [];
  const fetch = async (request: Request) => {
    sent.push(request);
    const step = steps.shift();
    if (!step) throw new Error('the script ran out');
    return step(request);
  };
  const client = createAgoraClient({
    baseUrl: 'http://agora.test/v1',
    fetch,
    retry: { baseDelayMs: 1 },
    hooks: { onRetry: (event) => void retries.push(event) },
    ...options,
  });
  return { client, sent, retries };
}

const getAccount = (client: ReturnType<typeof createAgoraClient>, init: { signal?: AbortSignal } = {}) =>
  client.GET('/accounts/{accountId}', { params: { path: { accountId } }, ...init });

t.test('backoff: exponential bound, capped, drawn at random below it (full jitter)', async (t) => {
  const retry = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
  t.equal(backoff(retry, 1, () => 0), 0);
  t.equal(backoff(retry, 1, () => 0.5), 50);
  t.equal(backoff(retry, 2, () => 0.5), 100);
  t.equal(backoff(retry, 3, () => 0.5), 200);
  t.equal(backoff(retry, 10, () => 0.5), 500, 'capped at maxDelayMs');

  // The client's waits are such draws: below the bound of each attempt.
  const { client, retries } = scripted(
    Array.from({ length: 6 }, () => () => problem(503, 'service-unavailable')),
    { retry: { attempts: 6, baseDelayMs: 8, maxDelayMs: 20 } },
  );
  t.equal((await getAccount(client)).response.status, 503);
  t.same(retries.map((r) => r.attempt), [1, 2, 3, 4, 5]);
  retries.forEach((r) => t.ok(r.delayMs >= 0 && r.delayMs < Math.min(20, 8 * 2 ** (r.attempt - 1)), `wait ${r.delayMs} before attempt ${r.attempt + 1}`));
});

t.test('Retry-After in seconds and as an HTTP date is a floor for the wait', async (t) => {
  const seconds = scripted([() => problem(429, 'rate-limited', { 'retry-after': '1' }), ok]);
  const started = Date.now();
  t.equal((await getAccount(seconds.client)).response.status, 200);
  t.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  t.ok(seconds.retries[0]!.delayMs >= 1000);
  t.equal(seconds.retries[0]!.response?.status, 429, 'the hook sees the response it retries');

  const date = new Date(Date.now() + 3000).toUTCString(); // whole seconds: 2 to 3 s from now
  const dated = scripted([() => problem(503, 'service-unavailable', { 'retry-after': date }), ok], { retry: { baseDelayMs: 1, maxDelayMs: 1000 } });
  t.equal((await getAccount(dated.client)).response.status, 503, 'a date beyond maxDelayMs is not waited for');
  t.equal(dated.sent.length, 1);
});

t.test('the timeout of an attempt: retried when safe, then an AgoraTimeoutError', async (t) => {
  const read = scripted([hangingFetch, hangingFetch, hangingFetch], { timeoutMs: 50, retry: { attempts: 3, baseDelayMs: 1 } });
  const started = Date.now();
  const error = await getAccount(read.client).catch((e: unknown) => e);
  t.ok(error instanceof AgoraTimeoutError, `${error}`);
  t.ok(error instanceof AgoraConnectionError, 'a timeout is a kind of connection error');
  t.equal((error as AgoraTimeoutError).timeoutMs, 50);
  t.equal(read.sent.length, 3, 'a GET is retried after a timeout');
  t.ok(Date.now() - started >= 140);

  const signIn = scripted([hangingFetch, ok], { timeoutMs: 50 });
  await t.rejects(signIn.client.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } }), AgoraTimeoutError);
  t.equal(signIn.sent.length, 1, 'a POST without a key may have run: not repeated');

  const slowButInTime = scripted([async () => (await new Promise((r) => setTimeout(r, 30)), ok())], { timeoutMs: 5000 });
  t.equal((await getAccount(slowButInTime.client)).response.status, 200);

  const forever = scripted([async () => (await new Promise((r) => setTimeout(r, 200)), ok())], { timeoutMs: 0 });
  t.equal((await getAccount(forever.client)).response.status, 200, 'timeoutMs: 0 waits for ever');
});

t.test('cancellation: the caller’s signal stops the attempt and every retry, with its own reason', async (t) => {
  const errors: unknown[] = [];
  const { client, sent } = scripted([hangingFetch, ok], { hooks: { onError: (e) => void errors.push(e.error) } });
  const controller = new AbortController();
  const reason = new Error('the user went away');
  setTimeout(() => controller.abort(reason), 30);
  const error = await getAccount(client, { signal: controller.signal }).catch((e: unknown) => e);
  t.equal(error, reason, 'rejects with the reason, not as a connection error');
  t.equal(sent.length, 1, 'not retried');
  t.same(errors, [reason], 'onError saw it');

  const already = scripted([ok]);
  const aborted = AbortSignal.abort(new Error('too late'));
  await t.rejects(getAccount(already.client, { signal: aborted }), /too late/);
});

t.test('a network failure becomes an AgoraConnectionError once retries are spent', async (t) => {
  const fail = () => Promise.reject(new TypeError('fetch failed'));
  const { client, sent } = scripted([fail, fail], { retry: { attempts: 2, baseDelayMs: 1 } });
  const error = await getAccount(client).catch((e: unknown) => e);
  t.ok(error instanceof AgoraConnectionError);
  t.equal((error as AgoraConnectionError).method, 'GET');
  t.equal((error as AgoraConnectionError).url, `http://agora.test/v1/accounts/${accountId}`);
  t.match((error as Error).message, /fetch failed/);
  t.ok((error as Error).cause instanceof TypeError, 'the cause is kept');
  t.equal(sent.length, 2);
});

t.test('hooks: every attempt is seen, and onRequest may add headers (tracing)', async (t) => {
  const events: string[] = [];
  const { client, sent } = scripted([() => problem(503, 'service-unavailable', { 'retry-after': '0' }), ok], {
    hooks: {
      onRequest: ({ request, attempt }) => {
        request.headers.set('traceparent', `00-${'a'.repeat(32)}-${'b'.repeat(15)}${attempt}-01`);
        events.push(`request ${attempt}`);
      },
      onResponse: ({ response, attempt, durationMs }) => void events.push(`response ${attempt} ${response.status} ${durationMs >= 0}`),
      onRetry: ({ attempt, delayMs }) => void events.push(`retry ${attempt} ${delayMs >= 0}`),
    },
  });
  t.equal((await getAccount(client)).response.status, 200);
  t.same(events, ['request 1', 'response 1 503 true', 'retry 1 true', 'request 2', 'response 2 200 true']);
  t.same(sent.map((r) => r.headers.get('traceparent')?.slice(-5)), ['b1-01', 'b2-01']);
});

t.test('typed errors for what is not a problem document, and a 304 is not an error', async (t) => {
  const html = scripted([() => new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'content-type': 'text/html', 'x-request-id': 'p1' } })], { retry: false });
  const gateway = await unwrap(getAccount(html.client)).catch((e: unknown) => e);
  t.ok(gateway instanceof AgoraError);
  t.match(gateway, { status: 502, type: 'urn:agora:problem:internal-error', requestId: 'p1', detail: '<h1>Bad gateway</h1>' });

  const proxy503 = scripted([() => new Response('busy', { status: 503, headers: { 'retry-after': '2' } })], { retry: false });
  const busy = await unwrap(getAccount(proxy503.client)).catch((e: unknown) => e);
  t.ok(busy instanceof UnavailableError, 'by status when there is no problem type');
  t.equal((busy as UnavailableError).retryAfterMs, 2000);

  const limited = scripted([() => problem(429, 'rate-limited', { 'retry-after': '30' })]);
  const rateLimited = await unwrap(getAccount(limited.client)).catch((e: unknown) => e);
  t.ok(rateLimited instanceof RateLimitedError);
  t.equal((rateLimited as RateLimitedError).retryAfterMs, 30_000);

  const missing = scripted([() => problem(404, 'not-found')]);
  await t.rejects(unwrap(getAccount(missing.client)), NotFoundError);

  const notModified = () => new Response(null, { status: 304, headers: { etag: '"0"' } });
  const conditional = scripted([notModified, notModified]);
  const headers = { 'If-None-Match': '"0"' };
  t.equal(await unwrapIfModified(conditional.client.GET('/accounts/{accountId}', { params: { path: { accountId } }, headers })), undefined);
  t.equal(await unwrap(conditional.client.GET('/accounts/{accountId}', { params: { path: { accountId } }, headers })), undefined, 'unwrap does not throw on a 304');
});

t.test('the token can be set and read', async (t) => {
  const { client, sent } = scripted([ok, ok], { token: 'one' });
  t.equal(client.token, 'one');
  await getAccount(client);
  client.setToken('two');
  t.equal(client.token, 'two', 'the getter follows setToken');
  await getAccount(client);
  t.same(sent.map((r) => r.headers.get('authorization')), ['Bearer one', 'Bearer two']);
});

t.test('a hook that throws fails the call with its own error, without a retry', async (t) => {
  const failing = new Error('the logger is broken');
  const { client, sent } = scripted([ok, ok], { hooks: { onRequest: () => Promise.reject(failing) } });
  const error = await getAccount(client).catch((e: unknown) => e);
  t.equal(error, failing);
  t.equal(sent.length, 0, 'nothing was sent');
});
