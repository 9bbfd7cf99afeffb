// Feed pages kept in memory (src/services/timelines/timelines-service.ts, TIMELINE_CACHE_PAGES):
// a page read again is served with no statement, and never once something it was read from
// changed: at once for this instance's own writes (a writer reads its write), within the caches'
// staleness bound for changes made elsewhere (another instance, or by hand: here, SQL straight
// into the database, which only PostgreSQL's notifications can tell the server about), and for
// a new post made elsewhere, once the fan-out pass that handles it has announced its author.
import pg from 'pg';
import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { befriend, catchUp as catchUpWith } from './helpers/timelines.ts';

const STALENESS_MS = 1000;
/** Room for a busy machine beyond the bound, in which a notification must have come. */
const SLACK_MS = 4000;

const agora = await startAgora(
  t,
  // One MiB of pages (TIMELINE_CACHE_MB): a few pages of long posts fill it.
  { TIMELINE_FRESH_MS: '600000', CACHE_MAX_STALENESS_MS: String(STALENESS_MS), TIMELINE_CACHE_MB: '1' },
  // Passes run when the test says (it calls fanOut), as in timelines.test.ts: a timed pass
  // between a post and an assertion that it is not fanned out yet would fail it.
  { jobs: true, jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1, timedFanOut: false } },
);

type Member = Awaited<ReturnType<typeof agora.signUp>>;
const catchUp = () => catchUpWith(agora);

async function hits(): Promise<number> {
  const samples = (await agora.scrape()).samples;
  return samples.find((s) => s.name === 'agora_cache_lookups_total' && s.labels.cache === 'feed_pages' && s.labels.outcome === 'hit')?.value ?? 0;
}

const texts = async (member: Member) => (await unwrap(member.client.GET('/feed', { params: { query: { limit: 10 } } }))).data.map((p) => p.text);

/** A reader with a friend who has posted, both caught up, and the reader's first page read (kept). */
async function scene(...friendPosts: string[]) {
  const [reader, friend] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, friend);
  const posts = [];
  for (const text of friendPosts) posts.push(await unwrap(friend.client.POST('/posts', { body: { text } })));
  await catchUp();
  // The fan-out's heartbeat reaches the server as a notification: kept pages are served only once it has.
  await until(async () => {
    await texts(reader);
    const before = await hits();
    await texts(reader);
    return (await hits()) > before;
  }, 'a page read twice is served from memory');
  return { reader, friend, posts };
}

/** Polls `check` until it holds, for the staleness bound and the slack; returns how long it took. */
async function until(check: () => Promise<boolean>, what: string): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < STALENESS_MS + SLACK_MS) {
    if (await check()) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`not within ${STALENESS_MS + SLACK_MS} ms: ${what}`);
}

t.test('a page read again is served from memory, with no statement, and is the same page', async (t) => {
  const { reader } = await scene('one', 'two');
  const first = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 10 } } }));
  const before = await hits();
  const { result, statements } = await agora.statementsDuring(() => unwrap(reader.client.GET('/feed', { params: { query: { limit: 10 } } })));
  t.same(result, first);
  t.same(result.data.map((p) => p.text), ['two', 'one']);
  t.equal((await hits()) - before, 1, 'one hit');
  t.notOk(statements.some((s) => /timelines\.|posts\.post/.test(s)), `no statement reads the timeline or the posts: ${statements.join(' | ')}`);
  // Another limit, or a cursor, is another page.
  const { statements: other } = await agora.statementsDuring(() => unwrap(reader.client.GET('/feed', { params: { query: { limit: 1 } } })));
  t.ok(other.some((s) => s.includes('timelines.entry')), 'a page of another size is read');
});

t.test("the reader's own writes show at once", async (t) => {
  const { reader } = await scene('theirs');
  const mine = await unwrap(reader.client.POST('/posts', { body: { text: 'mine' } }));
  t.same(await texts(reader), ['mine', 'theirs'], 'a new post');
  await unwrap(reader.client.PATCH('/posts/{postId}', { params: { path: { postId: mine.id }, header: { 'If-Match': ifMatch(mine.version) } }, body: { text: 'mine, edited' } }));
  t.same(await texts(reader), ['mine, edited', 'theirs'], 'an edit');
  await unwrap(reader.client.DELETE('/posts/{postId}', { params: { path: { postId: mine.id } } }));
  t.same(await texts(reader), ['theirs'], 'a deletion');
});

t.test("a friend's edit and deletion show at once; its new post once fanned out", async (t) => {
  const { reader, friend, posts } = await scene('first', 'second');
  await unwrap(friend.client.PATCH('/posts/{postId}', { params: { path: { postId: posts[0]!.id }, header: { 'If-Match': ifMatch(posts[0]!.version) } }, body: { text: 'first, edited' } }));
  t.same(await texts(reader), ['second', 'first, edited']);
  await unwrap(friend.client.DELETE('/posts/{postId}', { params: { path: { postId: posts[1]!.id } } }));
  t.same(await texts(reader), ['first, edited']);
  await unwrap(friend.client.POST('/posts', { body: { text: 'third' } }));
  t.same(await texts(reader), ['first, edited'], 'not yet fanned out');
  await agora.services.timelines.fanOut({});
  t.same(await texts(reader), ['third', 'first, edited'], 'fanned out');
});

t.test('unfriending, and a new friendship, show at once', async (t) => {
  const { reader, friend } = await scene('from a friend');
  await unwrap(reader.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: reader.account.id, friendId: friend.account.id } } }));
  t.same(await texts(reader), []);
  await texts(reader);
  await befriend(friend, reader);
  await catchUp();
  t.same(await texts(reader), ['from a friend']);
});

t.test('changes made elsewhere reach a kept page within the staleness bound', async (t) => {
  const { reader, friend, posts } = await scene('a', 'b', 'c');
  const [a, b, c] = posts.map((p) => p!.id);
  const took: Record<string, number> = {};
  const sees = (expected: string[]) => async () => JSON.stringify(await texts(reader)) === JSON.stringify(expected);

  await agora.sql("update posts.post set text = 'b, by hand' where id = $1", [b]);
  took.edit = await until(sees(['c', 'b, by hand', 'a']), 'an edit');
  await agora.sql('delete from posts.post where id = $1', [c]);
  took.deletion = await until(sees(['b, by hand', 'a']), 'a deletion');
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     values (gen_random_uuid(), $1, null, 'own, by hand', now(), now(), 1)`,
    [reader.account.id],
  );
  // A new post reaches the pages that read its author on demand (the author's own) as it
  // reaches its friends' timelines: once a fan-out pass has handled it (its "n:"), the post's own
  // transaction notifying nothing (below).
  await catchUp();
  took.ownPost = await until(sees(['own, by hand', 'b, by hand', 'a']), "the reader's own new post, once a pass handled it");
  await agora.sql('delete from timelines.entry where owner_id = $1 and post_id = $2', [reader.account.id, a]);
  took.entry = await until(sees(['own, by hand', 'b, by hand']), 'an entry removed from the timeline');
  await agora.sql('delete from social.friendship where account_id = $1 and friend_id = $2', [reader.account.id, friend.account.id]);
  took.friendship = await until(sees(['own, by hand']), 'a friendship ended');
  for (const [what, ms] of Object.entries(took)) t.ok(ms < STALENESS_MS + SLACK_MS, `${what}: ${Math.round(ms)} ms`);
});

t.test("a wide friend's new post, read on demand, reaches the page; so does a change of the wide authors", async (t) => {
  const { reader, friend } = await scene('fanned');
  // The friend becomes wide (as if it had passed TIMELINE_WIDE_FRIENDS): every instance empties its pages.
  await agora.sql('insert into timelines.wide (account_id) values ($1)', [friend.account.id]);
  await until(async () => {
    const { statements } = await agora.statementsDuring(() => texts(reader));
    return statements.some((s) => s.includes('timelines.entry'));
  }, 'pages emptied');
  t.same(await texts(reader), ['fanned'], 'the old post, read on demand now');
  await texts(reader);
  // What PostgreSQL announces meanwhile, heard as every instance hears it.
  const listener = new pg.Client({ connectionString: agora.databaseUrl });
  await listener.connect();
  t.teardown(() => listener.end());
  const heard: string[] = [];
  listener.on('notification', (n) => heard.push(n.payload ?? ''));
  await listener.query('listen agora_invalidate');
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     values (gen_random_uuid(), $1, null, 'wide, by hand', now(), now(), 1)`,
    [friend.account.id],
  );
  // Its own commit announced nothing (PostgreSQL commits notifying transactions one at a time):
  // a notification sent after it would come before this one, sent after it on another connection.
  await agora.sql("select pg_notify('agora_invalidate', 'test:after the insert')");
  await until(async () => heard.includes('test:after the insert'), 'the notification sent after the insert');
  t.notOk(heard.some((payload) => payload.startsWith('n:')), `the post's transaction announced no author (heard: ${heard.join(' ')})`);
  t.same(await texts(reader), ['fanned'], 'the kept page, until a pass has handled the post');
  // The pass that handles it announces its author, and the page is read again.
  await catchUp();
  await until(async () => heard.some((payload) => payload.startsWith('n:') && payload.slice(2).split(',').includes(friend.account.id)), "the pass's announcement of the author");
  await until(async () => JSON.stringify(await texts(reader)) === JSON.stringify(['wide, by hand', 'fanned']), "the wide friend's post");
  await agora.sql('delete from timelines.wide where account_id = $1', [friend.account.id]);
  t.pass('the wide friend is fanned out again');
});

t.test('a stale fan-out stops kept pages from being served', async (t) => {
  const { reader, friend } = await scene('before');
  await agora.sql("update timelines.fanout set caught_up_at = now() - interval '1 hour'");
  await unwrap(friend.client.POST('/posts', { body: { text: 'not fanned out yet' } }));
  await until(async () => JSON.stringify(await texts(reader)) === JSON.stringify(['not fanned out yet', 'before']), 'read on demand');
  const before = await hits();
  const { statements } = await agora.statementsDuring(() => texts(reader));
  t.equal(await hits(), before, 'no page served from memory');
  t.notOk(statements.some((s) => s.includes('timelines.entry')), 'read on demand');
  await catchUp();
});

t.test('kept pages weigh at most TIMELINE_CACHE_MB: pages of long posts push the oldest out', async (t) => {
  const MiB = 1024 * 1024;
  const gauge = async (name: string) => (await agora.scrape()).samples.find((s) => s.name === name && s.labels.cache === 'feed_pages')?.value;
  // Twenty posts of 5,000 characters: a page of n of them is estimated at about 10 KB each.
  const long = (i: number) => `${i} ${'long post '.repeat(500)}`.slice(0, 5000);
  const { reader } = await scene(...Array.from({ length: 20 }, (_, i) => long(i)));
  const page = (limit: number) => unwrap(reader.client.GET('/feed', { params: { query: { limit } } }));
  // Pages of 1 to 20 posts (each limit is a page of its own): about 2.2 MB together.
  for (let limit = 1; limit <= 20; limit++) t.equal((await page(limit)).data.length, limit);
  const weight = (await gauge('agora_cache_weight_bytes'))!;
  const entries = (await gauge('agora_cache_entries'))!;
  t.ok(weight > 0.5 * MiB && weight <= MiB, `the pages kept weigh ${weight} bytes: over half the bound, not over it`);
  t.ok(entries >= 3 && entries < 20, `${entries} pages kept: the newest, not all 20`);

  // The newest page is served from memory; the oldest was pushed out, and is read again.
  let before = await hits();
  await page(20);
  t.equal(await hits(), before + 1, 'the newest page is kept');
  before = await hits();
  const { statements } = await agora.statementsDuring(() => page(1));
  t.equal(await hits(), before, 'the oldest page is not');
  t.ok(statements.some((s) => s.includes('timelines.entry')), 'it is read from the timeline again');
});
