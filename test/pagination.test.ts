// Walks collections of several hundred posts with cursors and with page numbers, and checks
// that every item is seen exactly once and in order, also while new posts keep arriving.
import t, { type Test } from 'tap';
import { unwrap, type AgoraClient } from 'agora-sdk';
import { v7 as uuidv7 } from 'uuid';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const anonymous = agora.client();
const [author, friend, reader] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
for (const other of [author, friend]) {
  await unwrap(other.client.POST('/friend-requests', { body: { accountId: reader.account.id } }));
  await unwrap(reader.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: reader.account.id, friendId: other.account.id } } }));
}

/** Inserts `count` posts by `authorId` in one statement, spread over 2024, some sharing a time. */
async function seed(authorId: string, count: number, offsetMinutes: number): Promise<void> {
  const base = Date.parse('2024-01-01T00:00:00Z');
  const times = Array.from({ length: count }, (_, i) => base + (offsetMinutes + (i - (i % 3 === 2 ? 1 : 0)) * 97) * 60_000);
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     select id, $2, null, 'seed ' || n, at, at, 0
       from unnest($1::uuid[], $3::timestamptz[]) with ordinality as s(id, at, n)`,
    [times.map((ms) => uuidv7({ msecs: ms })), authorId, times.map((ms) => new Date(ms).toISOString())],
  );
}

await seed(author.account.id, 320, 0);
await seed(friend.account.id, 180, 13);

async function expected(authorIds: string[], newestFirst: boolean): Promise<string[]> {
  const order = newestFirst ? 'desc' : 'asc';
  const rows = await agora.sql(`select id from posts.post where author_id = any($1::uuid[]) and channel_id is null order by created_at ${order}, id ${order}`, [authorIds]);
  return rows.map((r) => r.id as string);
}

/** Publishes posts through the API until stopped, as another client would. */
function keepPublishing(client: AgoraClient) {
  let running = true;
  const published: string[] = [];
  const done = (async () => {
    while (running) {
      published.push((await unwrap(client.POST('/posts', { body: { text: `new ${published.length}` } }))).id);
    }
  })();
  return {
    published,
    async stop() {
      running = false;
      await done;
    },
  };
}

function assertOnce(t: Test, walked: string[], originals: string[], label: string) {
  t.equal(new Set(walked).size, walked.length, `${label}: no item twice`);
  const known = new Set(originals);
  t.same(walked.filter((id) => known.has(id)), originals, `${label}: every original item once, in order`);
}

type ListQuery = { limit: number; sort?: 'createdAt' | '-createdAt'; between?: string; cursor?: string; page?: number };

async function walkByCursor(read: (query: ListQuery) => Promise<{ data: { id: string }[]; nextCursor: string | null }>, query: ListQuery) {
  const walked: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await read({ ...query, ...(cursor ? { cursor } : {}) });
    walked.push(...page.data.map((p) => p.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return walked;
}

async function walkByPage(read: (query: ListQuery) => Promise<{ data: { id: string }[] }>, query: ListQuery, pages: number) {
  const walked: string[] = [];
  for (let page = 1; page <= pages; page++) {
    const { data } = await read({ ...query, page });
    walked.push(...data.map((p) => p.id));
    if (data.length < query.limit) break;
  }
  return walked;
}

const accountPosts = (query: ListQuery) => unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: author.account.id }, query } }));

t.test("an account's posts, by cursor, newest first, while new posts arrive", async (t) => {
  const originals = await expected([author.account.id], true);
  t.equal(originals.length, 320);
  const publisher = keepPublishing(author.client);
  const walked = await walkByCursor(accountPosts, { limit: 23 });
  await publisher.stop();
  t.ok(publisher.published.length > 0, `${publisher.published.length} posts published during the walk`);
  assertOnce(t, walked, originals, 'cursor, newest first');
  t.ok(walked.length - originals.length <= publisher.published.length, 'only posts from before the first page may precede the originals');
});

t.test("an account's posts, by cursor, oldest first, while new posts arrive", async (t) => {
  const originals = await expected([author.account.id], false);
  const publisher = keepPublishing(author.client);
  const walked = await walkByCursor(accountPosts, { limit: 29, sort: 'createdAt' });
  await publisher.stop();
  assertOnce(t, walked, originals, 'cursor, oldest first');
  t.same(walked.slice(0, originals.length), originals, 'new posts come after all the old ones');
});

t.test("an account's posts, by page, oldest first, while new posts arrive", async (t) => {
  const originals = await expected([author.account.id], false);
  const publisher = keepPublishing(author.client);
  const walked = await walkByPage(accountPosts, { limit: 20, sort: 'createdAt' }, Math.ceil(originals.length / 20));
  await publisher.stop();
  assertOnce(t, walked, originals, 'page, oldest first');
  t.same(walked.slice(0, originals.length), originals, 'new posts only ever land after the old ones');
});

t.test("an account's posts, by page, newest first, with between fixing the end, while new posts arrive", async (t) => {
  const inYear = await agora.sql(
    `select id from posts.post where author_id = $1 and created_at >= '2024-01-01' and created_at < '2025-01-01' order by created_at desc, id desc`,
    [author.account.id],
  );
  const publisher = keepPublishing(author.client);
  const walked = await walkByPage(accountPosts, { limit: 20, between: '2024-01-01_2025-01-01' }, 50);
  await publisher.stop();
  assertOnce(t, walked, inYear.map((r) => r.id as string), 'page, newest first, fixed range');
  t.equal(walked.length, inYear.length, 'and nothing from outside the range');
});

t.test('the feed, by cursor while new posts arrive, and by page', async (t) => {
  const feed = (query: ListQuery) => unwrap(reader.client.GET('/feed', { params: { query: { limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}), ...(query.page ? { page: query.page } : {}) } } }));
  const authors = [reader.account.id, author.account.id, friend.account.id];
  const originals = await expected(authors, true);
  t.ok(originals.length >= 500, `${originals.length} posts in the feed`);
  const publisher = keepPublishing(friend.client);
  const walked = await walkByCursor(feed, { limit: 37 });
  await publisher.stop();
  assertOnce(t, walked, originals, 'feed by cursor');

  const now = await expected(authors, true);
  const paged = await walkByPage(feed, { limit: 50 }, 50);
  t.same(paged, now, 'feed by page: every item once, in order');
  const beyond = await reader.client.GET('/feed', { params: { query: { page: 51 } } });
  t.equal(beyond.response.status, 400, 'page numbers are capped');
  t.equal(beyond.error!.errors?.[0]?.pointer, 'query/page');
});
