// The feed at constant cost (issue 16): a page reads one range of the reader's timeline, so what
// PostgreSQL reads for it must not grow with how much the reader's friends have posted, nor with
// how deep in the timeline the page is. Measured as the buffers the page's statements touch
// (EXPLAIN (ANALYZE, BUFFERS)), run through the timelines store itself with the parameters a feed
// request gives it: a plan that reads a whole timeline, or every friend's posts, passes every test
// of what the feed contains and fails here.
import pg from 'pg';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import type { Database } from '../src/persistence/sql.ts';
import { TimelinesStore, type Key } from '../src/persistence/timelines/index.ts';
import { startAgora } from './helpers/agora.ts';

const FRIENDS = 50;
const LENGTH = 400;
const PAGE = 20;
const FRESH_MS = 600_000;

const agora = await startAgora(t, { TIMELINE_LENGTH: String(LENGTH), TIMELINE_FRESH_MS: String(FRESH_MS), TIMELINE_FANOUT_INTERVAL_MS: '60000' });

/** A reader with FRIENDS friends who have posted `postsEach` general posts each, days ago. */
async function reader(postsEach: number) {
  const [self, ...friends] = await Promise.all(Array.from({ length: FRIENDS + 1 }, () => agora.signUp()));
  const ids = friends.map((f) => f.account.id);
  await agora.sql(
    `insert into social.friendship (id, account_id, friend_id, created_at)
     select gen_random_uuid(), a, b, now() - interval '30 days'
       from unnest($2::uuid[]) f(id), lateral (values ($1::uuid, f.id), (f.id, $1::uuid)) pair(a, b)`,
    [self!.account.id, ids],
  );
  // Old enough that the fan-out's window does not see them: the timeline is made from them at
  // the first read, as it is for a reader who had not read the feed for a while.
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     select gen_random_uuid(), f.id, null, 'post ' || n, t, t, 0
       from unnest($1::uuid[]) f(id), generate_series(1, $2::int) n,
            lateral (select now() - interval '2 days' - random() * interval '20 days' as t) at`,
    [ids, postsEach],
  );
  return self!;
}

const few = await reader(2);
const many = await reader(200);
// The fan-out caught up just now: feeds are read from timelines, not on demand.
for (let i = 0; i < 20 && !(await agora.services.timelines.fanOut({ full: true })).caughtUp; i++);
// The first reads make the timelines.
const firstPages = await Promise.all([few, many].map(async (r) => unwrap(r.client.GET('/feed', { params: { query: { limit: PAGE } } }))));
// A running database has statistics of its tables (autovacuum analyzes them as they grow); this
// one was filled a moment ago. Without them the planner guesses one row per timeline, and any plan
// looks as cheap as another.
await agora.sql('analyze social.friendship, posts.post, timelines.entry, timelines.owner, timelines.wide');

const client = new pg.Client({ connectionString: agora.databaseUrl });
await client.connect();
// The server's teardown drops the database, ending this connection with it.
client.on('error', () => {});
t.teardown(() => client.end());
const explained: { sql: string; buffers: number }[] = [];
/** Runs each statement twice: explained (buffers counted), then for its rows. */
const explaining = {
  async query(sql: string, params: readonly unknown[] = []) {
    const { rows } = await client.query(`explain (analyze, buffers, format json) ${sql}`, params as unknown[]);
    // SHOW_PLANS=1 prints each statement's plan, to see why a bound below failed.
    if (process.env.SHOW_PLANS) console.error(sql, JSON.stringify(params).slice(0, 300), (await client.query(`explain (analyze, buffers) ${sql}`, params as unknown[])).rows.map((r) => r['QUERY PLAN']).join('\n'));
    const plan = (rows[0]['QUERY PLAN'] as { Plan: Record<string, number> }[])[0]!.Plan;
    explained.push({ sql, buffers: plan['Shared Hit Blocks']! + plan['Shared Read Blocks']! });
    return (await client.query(sql, params as unknown[])).rows;
  },
  transaction() {
    throw new Error('a feed page runs no transaction');
  },
} as unknown as Database;
const store = new TimelinesStore(explaining);

/** The buffers of a page's two statements (the reader's state, then the page), as HomeTimelines runs them. */
async function pageCost(ownerId: string, before?: Key): Promise<{ state: number; page: number; rows: number; last?: Key }> {
  explained.length = 0;
  const state = await store.state(ownerId, FRESH_MS);
  if (!state.fresh || !state.materialized) throw new Error('the timeline should be materialized and fresh');
  const wide = new Set(state.wideFriends);
  const rows = await store.page(ownerId, state.friends.filter((f) => !wide.has(f)), [ownerId, ...state.wideFriends], PAGE + 1, state.horizon, before);
  const last = rows.at(-1);
  return { state: explained[0]!.buffers, page: explained[1]!.buffers, rows: rows.length, ...(last ? { last: { at: last.createdAt, id: last.id } } : {}) };
}

t.test("a page's cost does not grow with the friends' posts or the page's depth", async (t) => {
  t.same(firstPages.map((p) => p.data.length), [PAGE, PAGE], 'both readers get a full first page');
  const entries = async (id: string) => (await agora.sql<{ n: number }>('select count(*)::int as n from timelines.entry where owner_id = $1', [id]))[0]!.n;
  t.equal(await entries(many.account.id), LENGTH, `the busy reader's timeline is full (${LENGTH} entries)`);
  t.equal(await entries(few.account.id), 2 * FRIENDS, "the quiet reader's timeline holds every post");

  const small = await pageCost(few.account.id);
  const large = await pageCost(many.account.id);
  // Deep in the busy timeline: the 10th page.
  let deep = large;
  for (let i = 0; i < 9; i++) deep = await pageCost(many.account.id, deep.last);
  t.equal(small.rows, PAGE + 1);
  t.equal(large.rows, PAGE + 1);
  t.equal(deep.rows, PAGE + 1);
  t.comment(`buffers, state + page: ${small.state} + ${small.page} with 100 posts, ${large.state} + ${large.page} with 10,000, ${deep.state} + ${deep.page} at the 10th page`);

  // The state (friends, horizon, freshness) reads the same rows whatever was posted.
  t.ok(large.state <= small.state + 5, `the state: ${large.state} buffers with 10,000 posts, ${small.state} with 100`);
  // A page of the busy reader touches about three pages per post it returns (the primary key's
  // root and leaf, the heap: 63 for 21), plus a few for the timeline's range and the reader's
  // own posts (about 70 in all). Reading its whole timeline (400
  // entries joined to their posts: about 1,200 buffers) or each friend's posts would be many
  // times that. (The quiet reader's page is no reference: on tables this small the planner may
  // well read all 100 entries, which is cheap there.)
  for (const [what, cost] of [['first page', large], ['10th page', deep]] as const) {
    t.ok(cost.page < 3 * (PAGE + 1) + 35, `${what} of a full timeline among 10,000 posts: ${cost.page} buffers, about a page's worth`);
  }
  t.ok(Math.abs(deep.page - large.page) <= 20, `the 10th page costs what the first does: ${deep.page} and ${large.page} buffers`);
});

t.test('forgetting handled posts: the ones before the window go, counted in one row', async (t) => {
  const returned: number[] = [];
  const counting = new TimelinesStore({
    async query(sql: string, params: readonly unknown[] = []) {
      const { rows } = await client.query(sql, params as unknown[]);
      returned.push(rows.length);
      return rows;
    },
  } as unknown as Database);
  const marked = "'00000000-0000-7000-8000-' || lpad(n::text, 12, '0')";
  await agora.sql(
    `insert into timelines.handled (created_at, id)
     select now() - interval '2 hours', (${marked})::uuid from generate_series(1, 500) n
     union all select now() + interval '1 hour', (${marked})::uuid from generate_series(501, 503) n`,
  );
  const before = (await agora.sql<{ n: number }>('select count(*)::int as n from timelines.handled'))[0]!.n;
  const gone = await counting.forgetHandled(3_600_000);
  t.equal(gone, 500, 'the 500 handled two hours ago, before a window of one hour, are counted');
  t.same(returned, [1], 'one statement, one row back');
  const left = await agora.sql<{ old: number; n: number }>(
    `select count(*) filter (where created_at < now() - interval '1 hour')::int as old, count(*)::int as n from timelines.handled`,
  );
  t.equal(left[0]!.old, 0, 'none before the window is left');
  t.equal(left[0]!.n, before - 500, 'the rest are kept, the 3 within the window among them');
  t.equal((await agora.sql<{ n: number }>(`select count(*)::int as n from timelines.handled where created_at > now()`))[0]!.n, 3);
});
