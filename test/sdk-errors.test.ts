// The SDK against a real server: each kind of problem is its own error class with what a
// program needs to react (the current version, the retry time, the offending fields), a
// request without a response is an AgoraConnectionError (or AgoraTimeoutError), 503s are
// retried after Retry-After, and lists are walked across cursors with `for await`.
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import {
  AgoraConnectionError,
  AgoraTimeoutError,
  AuthenticationError,
  ConflictError,
  createAgoraClient,
  ifMatch,
  NotFoundError,
  PreconditionFailedError,
  RateLimitedError,
  UnavailableError,
  unwrap,
  unwrapIfModified,
  ValidationError,
  type AgoraClientOptions,
  type RetryEvent,
} from 'agora-sdk';
import { checkedFetch, startAgora, uniqueHandle } from './helpers/agora.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

const missing = '00000000-0000-4000-8000-000000000000';
const caught = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

t.test('problem responses are typed errors', async (t) => {
  const agora = await startAgora(t);
  const ada = await agora.signUp();

  const notFound = await caught(unwrap(ada.client.GET('/posts/{postId}', { params: { path: { postId: missing } } })));
  t.ok(notFound instanceof NotFoundError, `${notFound}`);
  t.match(notFound, { status: 404, type: 'urn:agora:problem:not-found', requestId: /\S/ });

  const post = await unwrap(ada.client.POST('/posts', { body: { text: 'first' } }));
  await unwrap(ada.client.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'second' } }));
  const stale = await caught(
    unwrap(ada.client.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'lost' } })),
  );
  t.ok(stale instanceof PreconditionFailedError, `${stale}`);
  t.equal((stale as PreconditionFailedError).currentVersion, 1, 'with the current version');
  t.equal((await unwrap(ada.client.GET('/posts/{postId}', { params: { path: { postId: post.id } } }))).text, 'second', 'the stale update changed nothing');

  const invalid = await caught(
    unwrap(agora.client().POST('/accounts', { body: { email: 'not an email', password: 'correct horse battery staple', handle: uniqueHandle(), displayName: 'X' } })),
  );
  t.ok(invalid instanceof ValidationError, `${invalid}`);
  t.equal((invalid as ValidationError).status, 400);
  t.same((invalid as ValidationError).pointers, ['/email'], 'with the pointers of the offending fields');
  const badQuery = await caught(unwrap(ada.client.GET('/feed', { params: { query: { limit: 1000 } } })));
  t.ok(badQuery instanceof ValidationError);
  t.same((badQuery as ValidationError).pointers, ['query/limit']);

  const taken = await caught(
    unwrap(agora.client().POST('/accounts', { body: { email: `${uniqueHandle()}@example.com`, password: 'correct horse battery staple', handle: ada.account.handle, displayName: 'X' } })),
  );
  t.ok(taken instanceof ConflictError, `${taken}`);

  const anonymous = await caught(unwrap(agora.client().GET('/sessions/me')));
  t.ok(anonymous instanceof AuthenticationError, `${anonymous}`);
  t.equal((anonymous as AuthenticationError).status, 401);

  // A conditional read of a current copy is a 304: no data, and no error.
  const headers = { 'If-None-Match': ifMatch(ada.account.version) };
  t.equal(await unwrapIfModified(ada.client.GET('/accounts/{accountId}', { params: { path: { accountId: ada.account.id } }, headers })), undefined);
  const changed = await unwrapIfModified(ada.client.GET('/accounts/{accountId}', { params: { path: { accountId: ada.account.id } }, headers: { 'If-None-Match': '"99"' } }));
  t.equal(changed?.id, ada.account.id);
});

t.test('429: a RateLimitedError with the time to wait', async (t) => {
  const agora = await startAgora(t, { RATE_LIMIT_PER_MINUTE: '3' });
  const client = createAgoraClient({ baseUrl: agora.baseUrl, fetch: checkedFetch() }); // default retries: a minute is not waited for
  let error: unknown;
  for (let i = 0; i < 10 && !error; i++) error = await caught(unwrap(client.GET('/accounts/{accountId}', { params: { path: { accountId: missing } } })).catch((e: unknown) => (e instanceof NotFoundError ? undefined : Promise.reject(e))));
  t.ok(error instanceof RateLimitedError, `${error}`);
  const limited = error as RateLimitedError;
  t.equal(limited.status, 429);
  t.ok(limited.retryAfterMs !== undefined && limited.retryAfterMs > 0, `retry after ${limited.retryAfterMs} ms`);
  t.equal(limited.retryAfterMs, Number(limited.response.headers.get('retry-after')) * 1000);
});

t.test('503: an UnavailableError with the time to wait; retried after Retry-After until the server recovers', async (t) => {
  const target = new URL(process.env.AGORA_TEST_ADMIN_URL!);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  t.teardown(() => proxy.close());
  const agora = await startAgora(t, { DATABASE_CONNECT_TIMEOUT_MS: '600', HEALTH_CHECK_INTERVAL_MS: '600000', RETRY_AFTER_SECONDS: '1' }, {
    routeDatabase: (url) => Object.assign(new URL(url), { port: String(proxy.port) }).toString(),
  });
  const { account } = await agora.signUp();
  const read = (options: Partial<AgoraClientOptions>) =>
    unwrap(createAgoraClient({ baseUrl: agora.baseUrl, fetch: checkedFetch(), ...options }).GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } }));

  proxy.blackhole();
  const unavailable = await caught(read({ retry: false }));
  t.ok(unavailable instanceof UnavailableError, `${unavailable}`);
  t.equal((unavailable as UnavailableError).retryAfterMs, 1000);

  const retries: RetryEvent[] = [];
  const recovered = await read({
    retry: { attempts: 10, maxElapsedMs: 60_000 },
    hooks: {
      onRetry: (event) => {
        retries.push(event);
        proxy.restore(); // the database comes back while the client waits
      },
    },
  });
  t.equal(recovered.id, account.id);
  t.ok(retries.length >= 1);
  t.equal(retries[0]!.response?.status, 503);
  t.ok(retries.every((r) => r.response?.status !== 503 || r.delayMs >= 1000), 'never sooner than Retry-After');
});

t.test('no response: AgoraConnectionError for a closed port, AgoraTimeoutError for a server that never answers', async (t) => {
  const closed = createServer();
  await new Promise<void>((ready) => closed.listen(0, '127.0.0.1', ready));
  const port = (closed.address() as { port: number }).port;
  await new Promise((done) => closed.close(done));
  const failures: unknown[] = [];
  const refused = createAgoraClient({ baseUrl: `http://127.0.0.1:${port}/v1`, retry: { attempts: 2, baseDelayMs: 1 }, hooks: { onError: ({ error }) => void failures.push(error) } });
  const error = await caught(unwrap(refused.GET('/sessions/me')));
  t.ok(error instanceof AgoraConnectionError, `${error}`);
  t.notOk(error instanceof AgoraTimeoutError);
  t.match((error as AgoraConnectionError).url, `http://127.0.0.1:${port}/v1/sessions/me`);
  t.equal(failures.length, 2, 'a GET was tried twice');

  const sockets: Socket[] = [];
  const received: string[] = []; // the request lines that reached the server
  const silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => received.push(...(chunk.toString('latin1').match(/^[A-Z]+ \S+ HTTP\/1\.1(?=\r?$)/gm) ?? [])));
  }); // accepts, never answers
  await new Promise<void>((ready) => silent.listen(0, '127.0.0.1', ready));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((done) => silent.close(done));
  });
  const baseUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/v1`;
  const slow = createAgoraClient({ baseUrl, timeoutMs: 300, retry: { attempts: 2, baseDelayMs: 1 } });
  const timedOut = await caught(unwrap(slow.GET('/sessions/me')));
  t.ok(timedOut instanceof AgoraTimeoutError, `${timedOut}`);
  t.equal((timedOut as AgoraTimeoutError).timeoutMs, 300);
  t.same(received, ['GET /v1/sessions/me HTTP/1.1', 'GET /v1/sessions/me HTTP/1.1'], 'a GET that timed out was tried again');

  received.length = 0;
  await t.rejects(slow.POST('/sessions', { body: { email: 'a@example.com', password: 'x' } }), AgoraTimeoutError);
  t.same(received, ['POST /v1/sessions HTTP/1.1'], 'a sign-in that timed out is not repeated: it may have run');

  const controller = new AbortController();
  const cancelled = slow.GET('/sessions/me', { signal: controller.signal });
  setTimeout(() => controller.abort(new Error('cancelled by the user')), 50);
  await t.rejects(cancelled, /cancelled by the user/, 'cancellation keeps its own reason');
});

t.test('lists are walked across cursors with for await', async (t) => {
  const agora = await startAgora(t);
  const ada = await agora.signUp();
  for (let i = 1; i <= 5; i++) await unwrap(ada.client.POST('/posts', { body: { text: `post ${i}` } }));
  let requests = 0;
  const client = createAgoraClient({ baseUrl: agora.baseUrl, token: ada.token, fetch: checkedFetch(), hooks: { onRequest: () => void requests++ } });
  const init = { params: { path: { accountId: ada.account.id }, query: { limit: 2 } } };

  const texts: string[] = [];
  for await (const post of client.paginate('/accounts/{accountId}/posts', init)) texts.push(post.text);
  t.same(texts, ['post 5', 'post 4', 'post 3', 'post 2', 'post 1'], 'every item, in order, across three pages');
  t.equal(requests, 3);

  const sizes: number[] = [];
  for await (const page of client.pages('/accounts/{accountId}/posts', init)) sizes.push(page.data.length);
  t.same(sizes, [2, 2, 1]);

  requests = 0;
  const firstThree: string[] = [];
  for await (const post of client.paginate('/accounts/{accountId}/posts', init)) {
    firstThree.push(post.text);
    if (firstThree.length === 3) break;
  }
  t.equal(requests, 2, 'pages are fetched as the loop asks for them, no further');

  const feed: string[] = [];
  for await (const post of client.paginate('/feed')) feed.push(post.text);
  t.equal(feed.length, 5, 'a list without parameters');

  const failing = async () => {
    for await (const post of client.paginate('/feed', { params: { query: { limit: 1000 } } })) t.fail(`no page: ${post.id}`);
  };
  await t.rejects(failing(), ValidationError, 'a failed page throws its typed error');
});
