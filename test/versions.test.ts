// Version 2 beside version 1: the same services and data through both, v2's own contract
// (every response here is checked against openapi-v2.yaml by the helpers), the cross-cutting
// behaviour on v2, and the deprecation of the v1 operations it replaces.
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { spec } from './helpers/contract.ts';

const agora = await startAgora(t);
const ada = await agora.signUp();
const bob = await agora.signUp();
const asAda = { authorization: `Bearer ${ada.token}` };
const asBob = { authorization: `Bearer ${bob.token}` };
const json = { 'content-type': 'application/json' };

const DEPRECATION = '@1796083200'; // 2026-12-01T00:00:00Z
const SUNSET = 'Wed, 01 Dec 2027 00:00:00 GMT';

t.test('/v2/openapi.json and /v2/openapi.yaml are served, version 2.x', async (t) => {
  const res = await fetch(`${agora.origin}/v2/openapi.json`);
  t.equal(res.status, 200);
  const document = (await res.json()) as { info: { version: string }; servers: { url: string }[] };
  t.match(document.info.version, /^2\.\d+\.\d+$/);
  t.equal(document.servers[0]!.url, '/v2');
  const yaml = await fetch(`${agora.origin}/v2/openapi.yaml`);
  t.equal(yaml.status, 200);
  t.match(await yaml.text(), /^openapi: 3\.1\.0/);
  const v1 = (await (await fetch(`${agora.origin}/openapi.json`)).json()) as { info: { version: string } };
  t.not(v1.info.version, document.info.version, '/openapi.json is still version 1');
});

t.test('a post made through v2 is the same post through v1, and the other way round', async (t) => {
  const created = await agora.raw('POST', '/v2/posts', { headers: { ...asAda, ...json, 'idempotency-key': 'v2-first' }, body: JSON.stringify({ text: 'hello from v2' }) });
  t.equal(created.status, 201);
  const id = created.json.id as string;
  t.equal(created.headers.get('location'), `/v2/posts/${id}`);
  t.equal(created.headers.get('etag'), '"0"');
  t.same(created.json.author, { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName });
  t.notOk('authorId' in created.json, 'v2 posts carry no authorId');
  t.notOk(created.headers.get('deprecation'), 'v2 is not deprecated');

  const viaV1 = await ada.client.GET('/posts/{postId}', { params: { path: { postId: id } } });
  t.equal(viaV1.response.status, 200);
  t.equal(viaV1.data!.authorId, ada.account.id, 'v1 still shows authorId');
  t.equal(viaV1.data!.text, 'hello from v2');

  const fromV1 = await unwrap(bob.client.POST('/posts', { body: { text: 'hello from v1' } }));
  const viaV2 = await agora.raw('GET', `/v2/posts/${fromV1.id}`);
  t.equal(viaV2.status, 200);
  t.same({ ...viaV2.json, authorId: fromV1.authorId }, fromV1, 'the same post, less authorId');

  const replay = await agora.raw('POST', '/v2/posts', { headers: { ...asAda, ...json, 'idempotency-key': 'v2-first' }, body: JSON.stringify({ text: 'hello from v2' }) });
  t.equal(replay.status, 201);
  t.equal(replay.json.id, id, 'an Idempotency-Key retry on v2 gets the first post again');
  t.equal(replay.headers.get('idempotent-replayed'), 'true');
});

t.test("a key used through one version and sent again through the other is a reuse (422), never answered with the other version's response", async (t) => {
  const posts = async (text: string) => (await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n as number;
  for (const [first, second] of [['/v1', '/v2'], ['/v2', '/v1']] as const) {
    const key = `across-${first.slice(1)}-${Date.now()}`;
    const text = `one key through ${first} then ${second}`;
    const send = (prefix: string) => agora.raw('POST', `${prefix}/posts`, { headers: { ...asAda, ...json, 'idempotency-key': key }, body: JSON.stringify({ text }) });
    const made = await send(first);
    t.equal(made.status, 201);
    t.match(made.headers.get('location'), new RegExp(`^${first}/posts/`));
    const other = await send(second);
    t.equal(other.status, 422, `the same key and body through ${second}`);
    t.equal(other.json.type, 'urn:agora:problem:idempotency-key-reused');
    t.equal(other.headers.get('idempotent-replayed'), null);
    const again = await send(first);
    t.equal(again.headers.get('idempotent-replayed'), 'true', `through ${first} again: replayed`);
    t.equal(again.text, made.text);
    t.equal(await posts(text), 1, 'one post');
  }
});

t.test('v2 lists link their next page, keep the filters in it, and refuse page numbers', async (t) => {
  const carl = await agora.signUp();
  const texts = ['one', 'two', 'three', 'four', 'five'];
  for (const text of texts) await unwrap(carl.client.POST('/posts', { body: { text } }));

  const seen: string[] = [];
  let next: string | null = `/v2/accounts/${carl.account.id}/posts?sort=createdAt&limit=2`;
  let pages = 0;
  while (next !== null && pages < 10) {
    const page = await agora.raw('GET', next);
    t.equal(page.status, 200, next);
    t.notOk('nextCursor' in page.json);
    seen.push(...page.json.data.map((p: { text: string }) => p.text));
    next = page.json.next;
    if (next !== null) t.match(next, new RegExp(`^/v2/accounts/${carl.account.id}/posts\\?sort=createdAt&limit=2&cursor=[A-Za-z0-9_-]+$`), 'filters, sort and limit kept');
    pages++;
  }
  t.same(seen, texts, 'following next sees every post once, in the order asked for');
  t.equal(pages, 3);

  const paged = await agora.raw('GET', `/v2/accounts/${carl.account.id}/posts?page=2`);
  t.equal(paged.status, 400, 'page numbers are gone in v2');
  t.equal(paged.json.errors[0].pointer, 'query/page');
  const v1Paged = await agora.raw('GET', `/v1/accounts/${carl.account.id}/posts?page=2&limit=2&sort=createdAt`);
  t.equal(v1Paged.status, 200, 'v1 keeps them');
  t.same(v1Paged.json.data.map((p: { text: string }) => p.text), ['three', 'four']);
  t.type(v1Paged.json.nextCursor, 'string', 'and its nextCursor');

  const feed = await agora.raw('GET', '/v2/feed?limit=1', { headers: { authorization: `Bearer ${carl.token}` } });
  t.equal(feed.status, 200);
  t.same(feed.json.data.map((p: { text: string }) => p.text), ['five']);
  t.match(feed.json.next, /^\/v2\/feed\?limit=1&cursor=/);
});

t.test('channel posts through v2', async (t) => {
  const room = await unwrap(ada.client.POST('/channels', { body: { name: 'v2 room', visibility: 'private' } }));
  const posted = await agora.raw('POST', `/v2/channels/${room.id}/posts`, { headers: { ...asAda, ...json }, body: JSON.stringify({ text: 'inside' }) });
  t.equal(posted.status, 201);
  t.equal(posted.json.channelId, room.id);
  const list = await agora.raw('GET', `/v2/channels/${room.id}/posts`, { headers: asAda });
  t.same(list.json, { data: [posted.json], next: null });
  t.equal((await agora.raw('GET', `/v2/channels/${room.id}/posts`, { headers: asBob })).status, 404, 'a private channel stays invisible to others');
});

t.test('conditional requests, auth, OPTIONS and problems hold on v2', async (t) => {
  const post = (await agora.raw('POST', '/v2/posts', { headers: { ...asAda, ...json }, body: JSON.stringify({ text: 'draft' }) })).json;
  const url = `/v2/posts/${post.id}`;
  const patch = (headers: Record<string, string>) =>
    agora.raw('PATCH', url, { headers: { ...asAda, 'content-type': 'application/merge-patch+json', ...headers }, body: JSON.stringify({ text: 'final' }) });

  t.equal((await patch({})).status, 428, 'If-Match is required');
  const stale = await patch({ 'if-match': '"7"' });
  t.equal(stale.status, 412);
  t.equal(stale.json.currentVersion, 0);
  const done = await patch({ 'if-match': '"0"' });
  t.equal(done.status, 200);
  t.equal(done.headers.get('etag'), '"1"');
  t.equal(done.json.text, 'final');
  t.equal((await agora.raw('GET', url, { headers: { 'if-none-match': '"1"' } })).status, 304);

  t.equal((await agora.raw('POST', '/v2/posts', { headers: json, body: JSON.stringify({ text: 'x' }) })).status, 401);
  t.equal((await agora.raw('PATCH', url, { headers: { ...asBob, ...json, 'if-match': '"1"' }, body: '{"text":"mine"}' })).status, 403);
  t.equal((await agora.raw('OPTIONS', url, { headers: asAda })).headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS');
  t.equal((await agora.raw('OPTIONS', url, { headers: asBob })).headers.get('allow'), 'GET, HEAD, OPTIONS');
  const unknown = await agora.raw('GET', `${url}?verbose=1`);
  t.equal(unknown.status, 400, 'unknown query parameters are refused');
  t.equal(unknown.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const put = await agora.raw('PUT', url, { headers: { ...asAda, ...json }, body: '{}' });
  t.equal(put.status, 405);
  t.match(put.headers.get('allow'), /PATCH/);
  t.equal((await agora.raw('GET', '/v2/accounts')).status, 404, 'v2 has only the posts family');
  t.ok(done.headers.get('ratelimit'), 'rate limits apply');

  t.equal((await agora.raw('DELETE', url, { headers: { ...asAda, 'if-match': '"1"' } })).status, 204);
  t.equal((await agora.raw('GET', `/v1/posts/${post.id}`)).status, 404, 'deleted through v2, gone through v1');
});

t.test("v1's replaced operations are deprecated in the contract and in their answers", async (t) => {
  const replaced = ['/posts', '/posts/{postId}', '/accounts/{accountId}/posts', '/feed', '/channels/{channelId}/posts'];
  for (const path of replaced) {
    for (const [method, operation] of Object.entries(spec.paths[path] as Record<string, any>)) {
      if (operation?.operationId) t.equal(operation.deprecated, true, `${method.toUpperCase()} ${path} is deprecated`);
    }
  }
  t.notOk(spec.paths['/accounts/{accountId}'].get.deprecated, 'operations v2 does not replace are not');

  const post = await unwrap(ada.client.POST('/posts', { body: { text: 'old client' } }));
  const expectations: [string, string, Record<string, string>, number, string][] = [
    ['GET', `/v1/posts/${post.id}`, {}, 200, `/v2/posts/${post.id}`],
    ['OPTIONS', `/v1/posts/${post.id}`, asAda, 204, `/v2/posts/${post.id}`],
    ['GET', `/v1/accounts/${ada.account.id}/posts`, {}, 200, `/v2/accounts/${ada.account.id}/posts`],
    ['GET', '/v1/feed', asAda, 200, '/v2/feed'],
    ['HEAD', '/v1/feed', asAda, 200, '/v2/feed'],
  ];
  for (const [method, path, headers, status, successor] of expectations) {
    const res = await agora.raw(method, path, { headers });
    t.equal(res.status, status, `${method} ${path}`);
    t.equal(res.headers.get('deprecation'), DEPRECATION, `${method} ${path}: Deprecation`);
    t.equal(res.headers.get('sunset'), SUNSET, `${method} ${path}: Sunset`);
    t.equal(res.headers.get('link'), `<${successor}>; rel="successor-version"`, `${method} ${path}: Link`);
  }
  const created = await agora.raw('POST', '/v1/posts', { headers: { ...asAda, ...json }, body: JSON.stringify({ text: 'still works' }) });
  t.equal(created.status, 201, 'v1 keeps working for old clients');
  t.equal(created.headers.get('location'), `/v1/posts/${created.json.id}`);
  t.equal(created.json.authorId, ada.account.id);
  t.equal(created.headers.get('link'), '</v2/posts>; rel="successor-version"');

  const account = await agora.raw('GET', `/v1/accounts/${ada.account.id}`);
  t.equal(account.status, 200);
  t.equal(account.headers.get('deprecation'), null, 'operations that are not replaced carry no deprecation');
  t.equal((await agora.raw('GET', `/v2/posts/${post.id}`)).headers.get('deprecation'), null);
});
