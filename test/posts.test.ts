import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { v7 as uuidv7 } from 'uuid';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const [author, other] = await Promise.all([agora.signUp(), agora.signUp()]);
const anonymous = agora.client();
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const UNKNOWN = '01a20a21-4c2b-7441-8746-a768807f76b6';

t.test('publish, read, edit and delete a post', async (t) => {
  const created = await author.client.POST('/posts', { body: { text: 'Hello, world' } });
  t.equal(created.response.status, 201);
  const post = created.data!;
  t.equal(created.response.headers.get('location'), `/v1/posts/${post.id}`);
  t.equal(created.response.headers.get('etag'), '"0"');
  t.match(post, { authorId: author.account.id, channelId: null, text: 'Hello, world', version: 0 });
  t.same(post.author, { id: author.account.id, handle: author.account.handle, displayName: author.account.displayName });

  const read = await anonymous.GET('/posts/{postId}', { params: { path: { postId: post.id } } });
  t.equal(read.response.status, 200, 'general posts are public');
  t.same(read.data, post);

  const path = { postId: post.id };
  t.equal((await author.client.PATCH('/posts/{postId}', { params: { path } as never, body: { text: 'x' } })).response.status, 428);
  t.equal((await other.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'mine' } })).response.status, 403);
  t.equal((await anonymous.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'mine' } })).response.status, 401);
  const edited = await author.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'Hello again' } });
  t.equal(edited.response.status, 200);
  t.match(edited.data, { text: 'Hello again', version: 1 });
  t.ok(Date.parse(edited.data!.updatedAt) >= Date.parse(post.updatedAt));
  const stale = await author.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'Lost update' } });
  t.equal(stale.response.status, 412);
  t.equal(stale.error!.currentVersion, 1);

  const asAuthor = await agora.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: auth(author.token) });
  t.equal(asAuthor.headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: auth(other.token) })).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/posts/${post.id}`)).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/posts')).headers.get('allow'), 'OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/posts', { headers: auth(other.token) })).headers.get('allow'), 'POST, OPTIONS');

  t.equal((await other.client.DELETE('/posts/{postId}', { params: { path } })).response.status, 403);
  t.equal((await author.client.DELETE('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } } })).response.status, 412);
  t.equal((await author.client.DELETE('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(1) } } })).response.status, 204);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path } })).response.status, 404);
  t.equal((await author.client.DELETE('/posts/{postId}', { params: { path } })).response.status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/posts/${post.id}`)).status, 404);
});

t.test('post text is 1 to 5000 characters, not blank', async (t) => {
  const longest = 'é'.repeat(5000);
  t.equal((await author.client.POST('/posts', { body: { text: longest } })).response.status, 201, '5000 characters (not bytes) fit');
  for (const [text, why] of [['', 'empty'], ['x'.repeat(5001), 'too long'], ['  \n\t ', 'blank'], ['a\u0000b', 'NUL']] as const) {
    const res = await author.client.POST('/posts', { body: { text } });
    t.equal(res.response.status, 400, why);
    t.equal(res.error!.errors?.[0]?.pointer, '/text', why);
  }
  t.equal((await author.client.POST('/posts', { body: { text: 'x', channelId: UNKNOWN } as never })).response.status, 400, 'unknown properties');
  t.equal((await anonymous.POST('/posts', { body: { text: 'x' } })).response.status, 401);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: UNKNOWN } } })).response.status, 404);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: 'nope' } } })).response.status, 400);
});

t.test("an account's posts: filters are validated and name the parameter", async (t) => {
  const path = { accountId: author.account.id };
  const cases: [string, string][] = [
    ['between=2025-01-01', 'query/between'],
    ['between=2025-02-30_2025-03-01', 'query/between'],
    ['between=2025-03-01_2025-02-01', 'query/between'],
    ['between=2025-03-01_2025-03-01', 'query/between'],
    ['sort=newest', 'query/sort'],
    ['between=2025-01-01_2025-02-01&tz=Mars%2FOlympus_Mons', 'query/tz'],
    ['tz=Europe%2FParis', 'query/tz'],
    ['limit=0', 'query/limit'],
    ['page=51', 'query/page'],
    ['colour=blue', 'query/colour'],
  ];
  for (const [query, pointer] of cases) {
    const res = await agora.raw('GET', `/v1/accounts/${author.account.id}/posts?${query}`);
    t.equal(res.status, 400, query);
    t.same(res.json.errors.map((e: { pointer: string }) => e.pointer), [pointer], query);
  }
  t.equal((await anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: UNKNOWN } } })).response.status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/accounts/${author.account.id}/posts`)).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/accounts/${UNKNOWN}/posts`)).status, 404);
  await unwrap(author.client.POST('/posts', { body: { text: 'one' } }));
  await unwrap(author.client.POST('/posts', { body: { text: 'two' } }));
  const first = await unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path, query: { limit: 1 } } }));
  t.equal(first.data[0]!.text, 'two', 'newest first by default');
  const changed = await anonymous.GET('/accounts/{accountId}/posts', { params: { path, query: { limit: 1, sort: 'createdAt', cursor: first.nextCursor! } } });
  t.equal(changed.response.status, 400, 'a cursor is only good for the sort it was issued for');
  t.equal(changed.error!.errors?.[0]?.pointer, 'query/cursor');
});

t.test('between: the start is included, the end excluded, days start in UTC unless tz says otherwise', async (t) => {
  const writer = await agora.signUp();
  const at = [
    '2024-12-31T22:59:59.999Z',
    '2024-12-31T23:00:00.000Z', // midnight in Paris
    '2024-12-31T23:59:59.999Z',
    '2025-01-01T00:00:00.000Z', // midnight UTC
    '2025-01-31T22:59:59.999Z',
    '2025-01-31T23:00:00.000Z', // midnight in Paris
    '2025-01-31T23:59:59.999Z',
    '2025-02-01T00:00:00.000Z', // midnight UTC
    '2025-03-09T04:59:59.999Z',
    '2025-03-09T05:00:00.000Z', // midnight in New York (EST, UTC-5)
    '2025-03-10T03:59:59.999Z',
    '2025-03-10T04:00:00.000Z', // the next midnight there is EDT (UTC-4): a 23-hour day
  ];
  for (const time of at) {
    await agora.sql(
      'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, $4, $4, 0)',
      [uuidv7({ msecs: Date.parse(time) }), writer.account.id, time, time],
    );
  }
  const path = { accountId: writer.account.id };
  const times = async (query: { between: string; tz?: string }) =>
    (await unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path, query: { ...query, sort: 'createdAt', limit: 100 } } }))).data.map((p) =>
      p.createdAt,
    );
  t.same(await times({ between: '2025-01-01_2025-02-01' }), ['2025-01-01T00:00:00.000Z', '2025-01-31T22:59:59.999Z', '2025-01-31T23:00:00.000Z', '2025-01-31T23:59:59.999Z'], 'UTC');
  t.same(
    await times({ between: '2025-01-01_2025-02-01', tz: 'Europe/Paris' }),
    ['2024-12-31T23:00:00.000Z', '2024-12-31T23:59:59.999Z', '2025-01-01T00:00:00.000Z', '2025-01-31T22:59:59.999Z'],
    'Paris',
  );
  t.same(await times({ between: '2025-03-09_2025-03-10', tz: 'America/New_York' }), ['2025-03-09T05:00:00.000Z', '2025-03-10T03:59:59.999Z'], 'New York, across a clock change');
  t.same(await times({ between: '2025-03-09_2025-03-10', tz: 'UTC' }), ['2025-03-09T04:59:59.999Z', '2025-03-09T05:00:00.000Z'], 'tz=UTC is the default');
});
