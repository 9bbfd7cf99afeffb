// Home timelines (src/services/timelines/): the feed read from materialized timelines must be
// exactly the feed fan-out on read gives, once the fan-out has caught up. The worker runs no
// timed passes here (timedFanOut: false): the test runs the passes itself (and waits for the
// queue of new friendships), so that "caught up" is a point it chooses, and compares every
// reader's feed with a model of the data.
import pg from 'pg';
import t from 'tap';
import { ifMatch, unwrap, type AgoraClient } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { befriend, catchUp as catchUpWith } from './helpers/timelines.ts';

// Small numbers, so that timelines are cut (horizons, pages across them) and some authors are
// wide (read on demand) with a handful of accounts.
const LENGTH = 6;
const WIDE = 4;
const agora = await startAgora(
  t,
  { TIMELINE_LENGTH: String(LENGTH), TIMELINE_WIDE_FRIENDS: String(WIDE), TIMELINE_FRESH_MS: '600000' },
  { jobs: true, jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1, timedFanOut: false } },
);

type Member = Awaited<ReturnType<typeof agora.signUp>>;
const catchUp = () => catchUpWith(agora);

/** Two new friends, the fan-out caught up, the first one's timeline made (its first feed read). */
async function friendsWithTimeline(): Promise<[Member, Member]> {
  const [reader, friend] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, friend);
  await catchUp();
  await unwrap(reader.client.GET('/feed')); // materializes
  return [reader, friend];
}

/** A connection of the test's own to the database (a transaction held open, a lock), closed with the test. */
async function ownConnection(t: { teardown(fn: () => unknown): void }): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: agora.databaseUrl });
  await client.connect();
  t.teardown(() => client.end());
  return client;
}

/** The whole feed, walked by cursor `limit` posts at a time: `id:text`, newest first. */
async function walk(client: AgoraClient, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 500; pages++) {
    const page = await unwrap(client.GET('/feed', { params: { query: { limit, ...(cursor ? { cursor } : {}) } } }));
    t.ok(page.data.length <= limit);
    seen.push(...page.data.map((p) => `${p.id}:${p.text}`));
    cursor = page.nextCursor ?? undefined;
    if (!cursor) return seen;
    t.equal(page.data.length, limit, 'only the last page is short');
  }
  throw new Error('the walk did not end');
}

/** A small seeded generator, so that a failure can be replayed (the seed is printed). */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return { int: (n: number) => Math.floor(next() * n), chance: (p: number) => next() < p };
}

t.test('materialized feeds equal fan-out on read on random data', async (t) => {
  const seed = Number(process.env.TIMELINES_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (TIMELINES_SEED=${seed} replays it)`);
  const rnd = generator(seed);
  const members: Member[] = await Promise.all(Array.from({ length: 8 }, () => agora.signUp()));
  const alive = new Set(members.map((m) => m.account.id));
  const friends = new Map(members.map((m) => [m.account.id, new Set<string>()]));
  const posts = new Map<string, { authorId: string; createdAt: number; text: string; version: number }>();
  const pickAlive = () => {
    const living = members.filter((m) => alive.has(m.account.id));
    return living[rnd.int(living.length)]!;
  };

  const expected = (ownerId: string) =>
    [...posts]
      .filter(([, p]) => alive.has(p.authorId) && (p.authorId === ownerId || friends.get(ownerId)!.has(p.authorId)))
      .sort(([ia, a], [ib, b]) => b.createdAt - a.createdAt || (ib < ia ? -1 : ib > ia ? 1 : 0))
      .map(([id, p]) => `${id}:${p.text}`);

  let serial = 0;
  for (let round = 0; round < 6; round++) {
    // Writes of every kind, then the fan-out catches up, then every reader's feed is compared.
    for (let i = 0; i < 14; i++) {
      // The first member befriends everyone in the first round: it is then wide, and posts on.
      const author = i === 0 && alive.has(members[0]!.account.id) ? members[0]! : pickAlive();
      const text = `r${round} p${serial++}`;
      const post = await unwrap(author.client.POST('/posts', { body: { text } }));
      posts.set(post.id, { authorId: author.account.id, createdAt: Date.parse(post.createdAt), text, version: post.version });
    }
    if (round === 0) {
      for (const other of members.slice(1)) {
        await befriend(members[0]!, other);
        friends.get(members[0]!.account.id)!.add(other.account.id);
        friends.get(other.account.id)!.add(members[0]!.account.id);
      }
    }
    for (let i = 0; i < 4; i++) {
      const [a, b] = [pickAlive(), pickAlive()];
      if (a === b || friends.get(a.account.id)!.has(b.account.id)) continue;
      await befriend(a, b);
      friends.get(a.account.id)!.add(b.account.id);
      friends.get(b.account.id)!.add(a.account.id);
    }
    if (round > 0 && rnd.chance(0.8)) {
      const a = pickAlive();
      const [b] = [...friends.get(a.account.id)!];
      if (b) {
        await unwrap(a.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: a.account.id, friendId: b } } }));
        friends.get(a.account.id)!.delete(b);
        friends.get(b)!.delete(a.account.id);
      }
    }
    const ids = [...posts.keys()];
    for (let i = 0; i < 3; i++) {
      const id = ids[rnd.int(ids.length)]!;
      const post = posts.get(id);
      if (!post || !alive.has(post.authorId)) continue;
      const author = members.find((m) => m.account.id === post.authorId)!;
      if (rnd.chance(0.5)) {
        await unwrap(author.client.DELETE('/posts/{postId}', { params: { path: { postId: id }, header: { 'If-Match': ifMatch(post.version) } } }));
        posts.delete(id);
      } else {
        post.text = `${post.text} (edited)`;
        const edited = await unwrap(author.client.PATCH('/posts/{postId}', { params: { path: { postId: id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: post.text } }));
        post.version = edited.version;
      }
    }
    if (round === 3) {
      const leaver = members[1 + rnd.int(members.length - 1)]!; // not the wide one
      await unwrap(leaver.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: leaver.account.id } } }));
      alive.delete(leaver.account.id);
      for (const other of friends.values()) other.delete(leaver.account.id);
      friends.get(leaver.account.id)!.clear();
    }
    await catchUp();
    for (const member of members.filter((m) => alive.has(m.account.id))) {
      const limit = 1 + rnd.int(LENGTH + 2);
      t.same(await walk(member.client, limit), expected(member.account.id), `round ${round}: ${member.account.handle}'s feed by ${limit}`);
    }
  }

  // What the test went through: timelines were kept, cut (horizons), and some authors were wide.
  const [kept] = await agora.sql('select count(*)::int as owners, count(horizon_at)::int as cut from timelines.owner');
  t.ok(kept!.owners > 0, 'timelines were materialized');
  t.ok(kept!.cut > 0, 'some were cut at a horizon (pages across it were read on demand)');
  t.ok((await agora.count('timelines.entry')) > 0, 'entries were fanned out');
  t.ok((await agora.count('timelines.wide')) > 0, 'some authors were wide (read on demand)');
  t.ok(Math.max(...(await agora.sql('select count(*)::int as n from timelines.entry group by owner_id')).map((r) => r.n)) <= LENGTH + 14 * 2, 'timelines are cut back to their length');

  // A page by number is read on demand, and agrees.
  const reader = pickAlive();
  const third = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 2, page: 3 } } }));
  t.same(third.data.map((p) => `${p.id}:${p.text}`), expected(reader.account.id).slice(4, 6), 'page 3');
});

t.test('a page is one range of the timeline, however many friends', async (t) => {
  const [reader, ...others] = await Promise.all(Array.from({ length: 4 }, () => agora.signUp()));
  for (const other of others) await befriend(reader!, other);
  for (const other of others) await unwrap(other.client.POST('/posts', { body: { text: `by ${other.account.handle}` } }));
  await catchUp();
  await unwrap(reader!.client.GET('/feed', { params: { query: { limit: 2 } } })); // materializes
  const { result, statements } = await agora.statementsDuring(() => unwrap(reader!.client.GET('/feed', { params: { query: { limit: 2 } } })));
  t.equal(result.data.length, 2);
  const pages = statements.filter((s) => s.includes('posts.post'));
  // The page read as the timeline was materialized is not kept: this one is read too.
  t.equal(pages.length, 1, 'one statement reads the posts', { statements });
  t.match(pages[0], /timelines\.entry/, 'from the timeline');
  t.notMatch(pages[0], /social\.friendship/);
});

t.test("the reader's own post shows at once; friends' once fanned out", async (t) => {
  const [reader, friend] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, friend);
  await catchUp();
  const texts = async () => (await unwrap(reader.client.GET('/feed', { params: { query: { limit: 10 } } }))).data.map((p) => p.text);
  t.same(await texts(), []);
  await unwrap(reader.client.POST('/posts', { body: { text: 'mine' } }));
  await unwrap(friend.client.POST('/posts', { body: { text: 'theirs' } }));
  t.same(await texts(), ['mine'], 'own posts are read on demand; the friend’s waits for the fan-out');
  const outcome = await agora.services.timelines.fanOut({});
  t.ok(outcome.entries >= 1, 'the pass wrote entries');
  t.same(await texts(), ['theirs', 'mine']);
});

t.test('without a fan-out that keeps up, feeds are read on demand', async (t) => {
  const [reader, friend] = await friendsWithTimeline();
  await agora.sql("update timelines.fanout set caught_up_at = now() - interval '1 hour'");
  await unwrap(friend.client.POST('/posts', { body: { text: 'not fanned out yet' } }));
  const { result, statements } = await agora.statementsDuring(() => unwrap(reader.client.GET('/feed')));
  t.same(result.data.map((p) => p.text), ['not fanned out yet'], 'the stale fan-out is not trusted');
  t.notOk(statements.some((s) => s.includes('timelines.entry')), 'read on demand');
  await catchUp();
  t.same((await unwrap(reader.client.GET('/feed'))).data.map((p) => p.text), ['not fanned out yet']);
});

t.test('an account that is closed keeps no timeline', async (t) => {
  const [reader, friend] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, friend);
  await unwrap(friend.client.POST('/posts', { body: { text: 'hello' } }));
  await catchUp();
  t.same((await unwrap(reader.client.GET('/feed'))).data.map((p) => p.text), ['hello']);
  t.ok((await agora.sql('select 1 from timelines.entry where owner_id = $1', [reader.account.id])).length > 0);
  await unwrap(reader.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: reader.account.id } } }));
  t.same(await agora.sql('select 1 from timelines.entry where owner_id = $1', [reader.account.id]), []);
  t.same(await agora.sql('select 1 from timelines.owner where owner_id = $1', [reader.account.id]), []);
});

t.test('a pass does nothing while another holds the fan-out\'s lock', async (t) => {
  const [reader, friend] = await friendsWithTimeline();
  const holder = await ownConnection(t);
  await holder.query('begin');
  await holder.query('select 1 from timelines.fanout where id = 1 for update');
  await unwrap(friend.client.POST('/posts', { body: { text: 'while locked' } }));
  const skipped = await agora.services.timelines.fanOut({});
  t.equal(skipped.ran, false, 'the pass skipped its turn');
  t.notOk(await inTimeline(reader.account.id, 'while locked'), 'and wrote nothing');
  await holder.query('commit');
  const outcome = await agora.services.timelines.fanOut({});
  t.ok(outcome.ran && outcome.entries >= 1, 'once the lock is free, the next pass fans the post out');
  t.same((await unwrap(reader.client.GET('/feed'))).data.map((p) => p.text), ['while locked']);
});

/** Whether `text`'s post is in `ownerId`'s timeline. */
async function inTimeline(ownerId: string, text: string): Promise<boolean> {
  return (await agora.sql('select 1 from timelines.entry e join posts.post p on p.id = e.post_id where e.owner_id = $1 and p.text = $2', [ownerId, text])).length === 1;
}

/** Inserts a general post as PostsStore.insert does (its time read as the row is made), in `client`'s transaction. */
async function insertPost(client: pg.Client, authorId: string, text: string): Promise<string> {
  const { rows } = await client.query(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     select gen_random_uuid(), $1, null, $2, t.at, t.at, 0 from (select date_trunc('milliseconds', clock_timestamp()) as at) t
     returning id`,
    [authorId, text],
  );
  return rows[0].id as string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a post whose transaction commits late is fanned out by the first pass after its commit, however late', async (t) => {
  const [reader, friend] = await friendsWithTimeline();
  const writer = await ownConnection(t);
  await writer.query('begin');
  const lateId = await insertPost(writer, friend.account.id, 'committed late');
  const [{ started }] = (await writer.query('select now() as started')).rows as [{ started: Date }];
  await unwrap(friend.client.POST('/posts', { body: { text: 'meanwhile' } }));
  t.ok((await agora.services.timelines.fanOut({})).ran);
  t.ok(await inTimeline(reader.account.id, 'meanwhile'), 'a pass fans out what has committed');
  t.notOk(await inTimeline(reader.account.id, 'committed late'), 'not what has not');
  const [scan] = await agora.sql<{ next_at: Date; from_at: Date }>('select next_at, from_at from timelines.scan where id = 1');
  // (Kept to the millisecond, rounded: hence the 1 ms.)
  t.ok(scan!.from_at.getTime() <= started.getTime() - 2000 + 1, `the next pass starts 2 s before the open transaction's start at the latest (${scan!.from_at.toISOString()}, begun ${started.toISOString()})`);
  // Longer than the window every pass reads (2 s), passes going on meanwhile.
  await sleep(1200);
  await agora.services.timelines.fanOut({});
  await sleep(1200);
  await agora.services.timelines.fanOut({});
  t.notOk(await inTimeline(reader.account.id, 'committed late'));
  await writer.query('commit');
  const outcome = await agora.services.timelines.fanOut({});
  t.ok(outcome.ran && outcome.posts === 1, 'the first pass after the commit reads it');
  t.ok(await inTimeline(reader.account.id, 'committed late'), 'and fans it out');
  t.ok(outcome.maxLagSeconds >= 2.4, `its lag counted from its creation (${outcome.maxLagSeconds} s)`);
  t.equal((await agora.services.timelines.fanOut({})).posts, 0, 'the next pass has nothing to do');
  t.ok((await agora.sql('select 1 from timelines.handled where id = $1', [lateId])).length === 1, 'it is handled, once');
  t.same((await unwrap(reader.client.GET('/feed'))).data.map((p) => p.text), ['meanwhile', 'committed late'], 'the feed shows both, in the order they were created');
});

t.test('a writing transaction whose start the passes cannot see holds their bound a minute back', async (t) => {
  const scan = async () => (await agora.sql<{ from_at: Date; next_behind: number; from_behind: number }>(
    `select from_at, extract(epoch from now() - next_at)::float8 as next_behind, extract(epoch from now() - from_at)::float8 as from_behind
       from timelines.scan where id = 1`,
  ))[0]!;
  await agora.services.timelines.fanOut({});
  const before = await scan();
  const writer = await ownConnection(t);
  // With track_activities off a session's transaction start is not reported (as another role's
  // is not, to a role without pg_read_all_stats); its transaction id still is.
  await writer.query('set track_activities = off');
  await writer.query('begin');
  await writer.query('create temporary table written (x int) on commit drop');
  await agora.services.timelines.fanOut({});
  const open = await scan();
  t.ok(open.next_behind >= 59, `the bound a pass notes is a minute back (${open.next_behind} s)`);
  t.equal(open.from_at.getTime(), before.from_at.getTime(), 'so the passes do not go on past where they were: the writer may have stamped a post since');
  await writer.query('commit');
  await agora.services.timelines.fanOut({});
  const closed = await scan();
  t.ok(closed.from_at.getTime() > before.from_at.getTime() && closed.from_behind < 10, `once it has ended, they go on (${closed.from_behind} s back)`);
});

t.test('posts created while the fan-out was stopped for longer than its grace window reach the timelines', async (t) => {
  const [reader, friend] = await friendsWithTimeline();
  await agora.services.timelines.fanOut({});
  // As if the last pass had run 10 minutes ago, and the fan-out had been stopped since (no
  // worker, or the timelines server down): the posts created meanwhile are older than the minute
  // the passes looked back over before.
  await agora.sql(`update timelines.scan set from_at = from_at - interval '10 minutes', next_at = null where id = 1`);
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     select gen_random_uuid(), $1, null, 'during the outage ' || i, t, t, 0
       from generate_series(1, 2500) i, lateral (select date_trunc('milliseconds', now() - interval '9 minutes' + i * interval '100 milliseconds') as t) at`,
    [friend.account.id],
  );
  const first = await agora.services.timelines.fanOut({});
  t.equal(first.posts, 2000, 'a pass handles a batch, the oldest first');
  t.notOk(first.caughtUp);
  const [afterFirst] = await agora.sql<{ from_at: Date }>('select from_at from timelines.scan where id = 1');
  const [lastHandled] = await agora.sql<{ at: Date }>(`select created_at as at from posts.post where text = 'during the outage 2000'`);
  t.equal(afterFirst!.from_at.getTime(), lastHandled!.at.getTime(), 'the next starts at the last post it handled, not before');
  const second = await agora.services.timelines.fanOut({});
  t.equal(second.posts, 500, 'the next pass the rest');
  t.ok(second.caughtUp);
  const [counted] = await agora.sql<{ n: number }>(
    `select count(*)::int as n from timelines.handled h join posts.post p on p.id = h.id where p.text like 'during the outage %'`,
  );
  t.equal(counted!.n, 2500, 'every one of them handled once');
  // The reader's timeline holds everything (it was made with no posts): without the fan-out,
  // its feed would show none of them.
  const feed = (await unwrap(reader.client.GET('/feed', { params: { query: { limit: 3 } } }))).data.map((p) => p.text);
  t.same(feed, ['during the outage 2500', 'during the outage 2499', 'during the outage 2498'], 'and the feed shows the newest first');
  const [scan] = await agora.sql<{ from_at: Date }>('select from_at from timelines.scan where id = 1');
  t.ok(Date.now() - scan!.from_at.getTime() < 60_000, 'once caught up, the passes look back only seconds again');
});
