// The SDK's v2 client: the same machinery as v1's (Idempotency-Keys on v2's creating calls,
// retries, typed errors, hooks) over v2's types, and `paginate` following v2's `next` links.
// Against a scripted fetch for exactly what is requested, and against a real server (every
// response checked against openapi-v2.yaml or openapi.yaml by checkedFetch), side by side with
// the v1 client.
import t from 'tap';
import {
  createAgoraClient,
  createAgoraV2Client,
  idempotentOperationsV2,
  ifMatch,
  isReplay,
  unwrap,
  versionOf,
  AgoraTimeoutError,
  NotFoundError,
  PermissionDeniedError,
  PreconditionFailedError,
  type AgoraClientOptions,
  type PostV2,
} from 'agora-sdk';
import { checkedFetch, startAgora } from './helpers/agora.ts';
import { hangingFetch } from './helpers/fake-fetch.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

t.test("v2's creating operations are the ones openapi-v2.yaml marks x-idempotent", async (t) => {
  t.same([...idempotentOperationsV2], ['POST /channels/{channelId}/posts', 'POST /posts']);
});

t.test('paginate follows next links as they are (scripted)', async (t) => {
  const post = (n: number) => ({ id: `p${n}`, text: `post ${n}` });
  const pages: Record<string, unknown> = {
    '/v2/feed?limit=2': { data: [post(1), post(2)], next: '/v2/feed?limit=2&cursor=AAA' },
    '/v2/feed?limit=2&cursor=AAA': { data: [post(3), post(4)], next: '/v2/feed?limit=2&cursor=BBB' },
    '/v2/feed?limit=2&cursor=BBB': { data: [post(5)], next: null },
    '/v2/accounts/a1/posts?tz=Europe%2FParis&limit=1': { data: [post(6)], next: '/v2/accounts/a1/posts?tz=Europe%2FParis&limit=1&cursor=CCC' },
    '/v2/accounts/a1/posts?tz=Europe%2FParis&limit=1&cursor=CCC': { data: [post(7)], next: 'http://elsewhere.test/v2/accounts/a1/posts?cursor=DDD' },
  };
  const sent: { url: string; trace: string | null; authorization: string | null }[] = [];
  const fetch = async (request: Request) => {
    sent.push({ url: request.url, trace: request.headers.get('x-trace'), authorization: request.headers.get('authorization') });
    const url = new URL(request.url);
    const page = url.origin === 'http://agora.test' ? pages[url.pathname + url.search] : undefined;
    if (!page) return new Response(JSON.stringify({ type: 'urn:agora:problem:not-found', title: 'Not Found', status: 404, requestId: 'r' }), { status: 404, headers: { 'content-type': 'application/problem+json' } });
    return new Response(JSON.stringify(page), { headers: { 'content-type': 'application/json' } });
  };
  const options: AgoraClientOptions = { baseUrl: 'http://agora.test/v2/', token: 'secret', fetch };
  const client = createAgoraV2Client(options);

  const texts: string[] = [];
  for await (const item of client.paginate('/feed', { params: { query: { limit: 2 } }, headers: { 'x-trace': 'feed' } })) texts.push(item.text);
  t.same(texts, ['post 1', 'post 2', 'post 3', 'post 4', 'post 5'], 'every item once, in order');
  t.same(
    sent.map((s) => s.url),
    ['http://agora.test/v2/feed?limit=2', 'http://agora.test/v2/feed?limit=2&cursor=AAA', 'http://agora.test/v2/feed?limit=2&cursor=BBB'],
    'each next link, resolved against baseUrl and sent as it is',
  );
  t.ok(sent.every((s) => s.trace === 'feed' && s.authorization === 'Bearer secret'), "every page carries the first request's headers and the token");

  sent.length = 0;
  const bodies: unknown[] = [];
  for await (const page of client.pages('/feed', { params: { query: { limit: 2 } } })) bodies.push(page.next);
  t.same(bodies, ['/v2/feed?limit=2&cursor=AAA', '/v2/feed?limit=2&cursor=BBB', null], '`pages` yields whole pages');

  sent.length = 0;
  const seen: string[] = [];
  const walk = async () => {
    for await (const item of client.paginate('/accounts/{accountId}/posts', { params: { path: { accountId: 'a1' }, query: { tz: 'Europe/Paris', limit: 1 } } })) seen.push(item.text);
  };
  await t.rejects(walk(), /not following a next link to another origin/);
  t.same(seen, ['post 6', 'post 7']);
  t.equal(sent.length, 2, 'nothing was sent to the other origin (nor the token)');
  t.equal(sent[1]!.url, 'http://agora.test/v2/accounts/a1/posts?tz=Europe%2FParis&limit=1&cursor=CCC', 'the encoded query is kept byte for byte');

  sent.length = 0;
  await t.rejects(
    (async () => {
      for await (const item of client.paginate('/channels/{channelId}/posts', { params: { path: { channelId: 'gone' } } })) t.fail(`got ${item.id}`);
    })(),
    NotFoundError,
    'a failed page throws its typed error',
  );
});

t.test("v2 shares v1's machinery: a failed page is retried, timeouts and cancellation hold (scripted)", async (t) => {
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' } });
  const unavailable = () => json({ type: 'urn:agora:problem:service-unavailable', title: 'Service Unavailable', status: 503, requestId: 'r' }, 503);
  const post = (n: number) => ({ id: `p${n}`, text: `post ${n}` });

  const script = [json({ data: [post(1)], next: '/v2/feed?cursor=A' }), unavailable(), json({ data: [post(2)], next: null })];
  const urls: string[] = [];
  const retries: number[] = [];
  const retrying = createAgoraV2Client({
    baseUrl: 'http://agora.test/v2',
    retry: { baseDelayMs: 1 },
    hooks: { onRetry: ({ attempt }) => void retries.push(attempt) },
    fetch: async (request: Request) => {
      urls.push(request.url);
      return script.shift()!;
    },
  });
  const ids: string[] = [];
  for await (const item of retrying.paginate('/feed')) ids.push(item.id);
  t.same(ids, ['p1', 'p2']);
  t.same(urls, ['http://agora.test/v2/feed', 'http://agora.test/v2/feed?cursor=A', 'http://agora.test/v2/feed?cursor=A'], 'the 503 page was asked for again');
  t.same(retries, [1], 'onRetry was told');

  const hanging = createAgoraV2Client({
    baseUrl: 'http://agora.test/v2',
    retry: false,
    timeoutMs: 50,
    fetch: hangingFetch,
  });
  await t.rejects(unwrap(hanging.GET('/feed')), AgoraTimeoutError, 'an attempt without an answer times out');

  const controller = new AbortController();
  let sent = 0;
  const cancellable = createAgoraV2Client({
    baseUrl: 'http://agora.test/v2',
    fetch: async () => {
      sent++;
      return json({ data: [post(sent)], next: `/v2/feed?cursor=${sent}` });
    },
  });
  const walk = async () => {
    for await (const item of cancellable.paginate('/feed', { signal: controller.signal })) {
      if (item.id === 'p2') controller.abort(new Error('enough'));
    }
  };
  await t.rejects(walk(), /enough/, "the caller's signal stops the pages");
  t.equal(sent, 2, 'no page is asked for after the abort');
});

t.test('against a real server, beside the v1 client', async (t) => {
  const agora = await startAgora(t);
  const v2BaseUrl = `${agora.origin}/v2`;
  const ada = await agora.signUp();
  const bob = await agora.signUp();
  const checking = checkedFetch();
  const v2 = (token: string, options: Partial<AgoraClientOptions> = {}) => createAgoraV2Client({ baseUrl: v2BaseUrl, token, fetch: checking, ...options });
  const adaV2 = v2(ada.token);
  const bobV2 = v2(bob.token);

  t.test('a post created through v2 carries an Idempotency-Key, has no authorId, and reads back through both versions', async (t) => {
    const keys: (string | null)[] = [];
    const client = v2(ada.token, { hooks: { onRequest: ({ request }) => void keys.push(request.headers.get('idempotency-key')) } });
    const { data, response } = await client.POST('/posts', { body: { text: 'hello through the v2 SDK' } });
    t.equal(response.status, 201);
    t.match(keys[0], uuid, 'an Idempotency-Key was sent for POST /v2/posts');
    t.equal(response.headers.get('location'), `/v2/posts/${data!.id}`);
    t.equal(versionOf(response), 0);
    t.notOk('authorId' in data!, 'a v2 post has no authorId');
    t.same(data!.author, { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName });

    const read = await unwrap(client.GET('/posts/{postId}', { params: { path: { postId: data!.id } } }));
    t.same(read, data, 'read back through v2');
    t.equal(keys[1], null, 'a read carries no key');
    const viaV1 = await unwrap(ada.client.GET('/posts/{postId}', { params: { path: { postId: data!.id } } }));
    t.same(viaV1, { ...data, authorId: ada.account.id }, 'the same post through the v1 client, with authorId');
  });

  t.test('a create whose response is lost is retried with the same key and replayed: one post', async (t) => {
    const sent: { key: string | null; body: string }[] = [];
    let lost = 0;
    const lossy = async (request: Request) => {
      sent.push({ key: request.headers.get('idempotency-key'), body: await request.clone().text() });
      const response = await checking(request);
      if (lost++ === 0) throw new TypeError('socket hang up'); // the server did the work; the client never hears
      return response;
    };
    const client = v2(ada.token, { fetch: lossy, retry: { baseDelayMs: 10 } });
    const text = `lost once ${Date.now()}`;
    const replaysBefore = agora.replays.length;
    const { data, response } = await client.POST('/posts', { body: { text } });
    t.equal(response.status, 201);
    t.ok(isReplay(response), 'the retry got the stored response');
    t.equal(sent.length, 2);
    t.match(sent[0]!.key, uuid);
    t.equal(sent[1]!.key, sent[0]!.key, 'the retry re-sent the same key');
    t.equal(sent[1]!.body, sent[0]!.body, 'and the same body');
    t.equal(agora.replays.length, replaysBefore + 1, 'the server replayed the stored response');
    const rows = await agora.sql('select id from posts.post where text = $1', [text]);
    t.same(rows.map((r) => r.id), [data!.id], 'exactly one post, the one returned');

    const own = await client.POST('/posts', { body: { text: `${text} (own key)` }, params: { header: { 'Idempotency-Key': `v2-sdk-${Date.now()}` } } });
    t.equal(own.response.status, 201);
    t.match(sent.at(-1)!.key, /^v2-sdk-/, 'a key of your own is sent as it is');
  });

  t.test('updates are conditional: If-Match from the version read, a typed 412 when stale', async (t) => {
    const post = await unwrap(adaV2.POST('/posts', { body: { text: 'draft' } }));
    const edited = await unwrap(
      adaV2.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'final' } }),
    );
    t.equal(edited.version, 1);
    t.equal(edited.text, 'final');
    const error = await unwrap(
      adaV2.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'lost update' } }),
    ).catch((e: unknown) => e);
    t.type(error, PreconditionFailedError);
    t.equal((error as PreconditionFailedError).status, 412);
    t.equal((error as PreconditionFailedError).currentVersion, 1);
    t.equal((await unwrap(adaV2.GET('/posts/{postId}', { params: { path: { postId: post.id } } }))).text, 'final', 'the stale update changed nothing');

    const foreign = await unwrap(
      bobV2.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(1) } }, body: { text: 'mine now' } }),
    ).catch((e: unknown) => e);
    t.type(foreign, PermissionDeniedError, "editing another's post is a typed 403");
  });

  t.test('a missing post and a stranger’s post in a private channel are a typed NotFoundError', async (t) => {
    const missing = await unwrap(adaV2.GET('/posts/{postId}', { params: { path: { postId: '00000000-0000-4000-8000-000000000000' } } })).catch((e: unknown) => e);
    t.type(missing, NotFoundError);
    t.equal((missing as NotFoundError).status, 404);
    t.ok((missing as NotFoundError).requestId, 'with the request id the server logged');

    const room = await unwrap(ada.client.POST('/channels', { body: { name: 'v2 sdk room', visibility: 'private' } }));
    const inside = await unwrap(adaV2.POST('/channels/{channelId}/posts', { params: { path: { channelId: room.id } }, body: { text: 'members only' } }));
    t.equal(inside.channelId, room.id);
    const hidden = await unwrap(bobV2.GET('/posts/{postId}', { params: { path: { postId: inside.id } } })).catch((e: unknown) => e);
    t.type(hidden, NotFoundError, "a stranger's private post is not found");
    const list = await unwrap(bobV2.GET('/channels/{channelId}/posts', { params: { path: { channelId: room.id } } })).catch((e: unknown) => e);
    t.type(list, NotFoundError, 'nor is the private channel');
  });

  t.test('for await over the feed follows next across pages: every post once, as v1 sees them', async (t) => {
    const carl = await agora.signUp();
    const carlV2 = v2(carl.token);
    const created: PostV2[] = [];
    for (let i = 0; i < 7; i++) created.push(await unwrap(carlV2.POST('/posts', { body: { text: `feed ${i}` } })));

    const requested: string[] = [];
    const counting = v2(carl.token, { hooks: { onRequest: ({ request }) => void requested.push(new URL(request.url).pathname + new URL(request.url).search) } });
    const seen: string[] = [];
    for await (const post of counting.paginate('/feed', { params: { query: { limit: 2 } } })) {
      // @ts-expect-error v2 posts have no authorId
      t.equal(post.authorId, undefined);
      seen.push(post.id);
    }
    t.same(seen, created.map((p) => p.id).reverse(), 'every post once, newest first');
    t.equal(requested.length, 4, 'four pages of two');
    t.equal(requested[0], '/v2/feed?limit=2');
    for (const url of requested.slice(1)) t.match(url, /^\/v2\/feed\?limit=2&cursor=[A-Za-z0-9_-]+$/, 'later pages are the next links');

    const viaV1: string[] = [];
    for await (const post of carl.client.paginate('/feed', { params: { query: { limit: 3 } } })) viaV1.push(post.id);
    t.same(viaV1, seen, 'the v1 client pages the same feed over nextCursor');

    const texts: string[] = [];
    // Days around now, wide enough to hold it in Paris as in UTC.
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    for await (const post of carlV2.paginate('/accounts/{accountId}/posts', {
      params: { path: { accountId: carl.account.id }, query: { sort: 'createdAt', limit: 3, between: `${day(-1)}_${day(2)}`, tz: 'Europe/Paris' } },
    })) {
      texts.push(post.text);
    }
    t.same(texts, created.map((p) => p.text), 'filters, time zone and sort are kept from page to page');

    let pages = 0;
    for await (const page of carlV2.pages('/feed', { params: { query: { limit: 5 } } })) {
      pages++;
      t.equal(page.next === null, pages === 2, 'the last page has next: null');
    }
    t.equal(pages, 2);

    const first: string[] = [];
    for await (const post of carlV2.paginate('/feed', { params: { query: { limit: 2 } } })) {
      first.push(post.id);
      if (first.length === 3) break;
    }
    t.same(first, seen.slice(0, 3), 'break stops early');
  });

  t.test('the v1 and v2 clients share a token and a server, each with its own types and keys', async (t) => {
    const v1Keys: (string | null)[] = [];
    const v2Keys: (string | null)[] = [];
    const dana = await agora.signUp();
    const danaV1 = createAgoraClient({ baseUrl: agora.baseUrl, token: dana.token, fetch: checking, hooks: { onRequest: ({ request }) => void v1Keys.push(request.headers.get('idempotency-key')) } });
    const danaV2 = v2(dana.token, { hooks: { onRequest: ({ request }) => void v2Keys.push(request.headers.get('idempotency-key')) } });

    const fromV1 = await unwrap(danaV1.POST('/posts', { body: { text: 'from v1' } }));
    const fromV2 = await unwrap(danaV2.POST('/posts', { body: { text: 'from v2' } }));
    t.match(v1Keys[0], uuid);
    t.match(v2Keys[0], uuid);
    t.equal(fromV1.authorId, dana.account.id);

    const v2Feed: string[] = [];
    for await (const post of danaV2.paginate('/feed', { params: { query: { limit: 1 } } })) v2Feed.push(post.text);
    const v1Feed: string[] = [];
    for await (const post of danaV1.paginate('/feed', { params: { query: { limit: 1 } } })) v1Feed.push(post.text);
    t.same(v2Feed, ['from v2', 'from v1']);
    t.same(v1Feed, v2Feed);

    await unwrap(danaV1.DELETE('/posts/{postId}', { params: { path: { postId: fromV2.id } } }));
    t.type(await unwrap(danaV2.GET('/posts/{postId}', { params: { path: { postId: fromV2.id } } })).catch((e: unknown) => e), NotFoundError, 'deleted through v1, gone through v2');
    // The v1 account operations are not v2's: the compiler refuses them on the v2 client.
    // @ts-expect-error v2 has no /accounts/{accountId}
    const wrong = await danaV2.GET('/accounts/{accountId}', { params: { path: { accountId: dana.account.id } } });
    t.equal(wrong.response.status, 404);
  });
});
