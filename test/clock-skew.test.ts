// An instance whose wall clock lags the database's (test/helpers/clock-lag.ts: five minutes
// behind) still serves feeds that are right. The fan-out finds new posts by comparing their
// times with the database's clock, and kept feed pages are served only while the fan-out's
// last heartbeat is recent: both once compared the instance's clock with the database's. With
// the posts stamped by the instance, a post made there was never fanned out (the feed never
// showed it to a friend whose timeline is kept), and with the heartbeat read against the
// instance's clock, a page stayed "fresh" for five minutes after the fan-out had stopped.
//
// Two instances: `worker` (a true clock) runs the job queue's consumers and the fan-out;
// `lagging` (WORKER=off) serves the requests.
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { startCluster, type Instance } from './helpers/cluster.ts';
import { PASSWORD, clusterScenarios } from './helpers/cluster-scenarios.ts';
import { total } from './helpers/metrics.ts';

const LAG_MS = 300_000;
const FRESH_MS = 2000;

t.setTimeout(300_000);

const cluster = await startCluster(t, 0, { TIMELINE_FRESH_MS: String(FRESH_MS) });
const worker = await cluster.start('worker');
const lagging = await cluster.start('lagging', {
  NODE_OPTIONS: `--import=${pathToFileURL(join(import.meta.dirname, 'helpers/clock-lag.ts')).href}`,
  AGORA_TEST_CLOCK_LAG_MS: String(LAG_MS),
  WORKER: 'off',
});
// An instance whose clock runs five minutes ahead (WORKER=off too): the fan-out's heartbeats,
// which carry the database's time, look five minutes old on its clock.
const ahead = await cluster.start('ahead', {
  NODE_OPTIONS: `--import=${pathToFileURL(join(import.meta.dirname, 'helpers/clock-lag.ts')).href}`,
  AGORA_TEST_CLOCK_LAG_MS: String(-LAG_MS),
  WORKER: 'off',
});
const { newAccount, client } = clusterScenarios(cluster, { boundMs: 1000, run: Math.random().toString(36).slice(2, 8) });

async function member(label: string, on: Instance) {
  const body = newAccount(label);
  const account = await unwrap(client(on).POST('/accounts', { body }));
  const { token } = await unwrap(client(on).POST('/sessions', { body: { email: body.email, password: PASSWORD } }));
  return { account, client: client(on, token) };
}

const databaseNow = async () => (await cluster.sql<{ now: Date }>('select now()'))[0]!.now.getTime();

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs`. */
async function eventually(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

const [ada, bob] = [await member('lagada', lagging), await member('lagbob', lagging)];
await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
await unwrap(bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } }));
// Cy and Dee use the instance whose clock runs ahead.
const [cy, dee] = [await member('aheadcy', ahead), await member('aheaddee', ahead)];
await unwrap(cy.client.POST('/friend-requests', { body: { accountId: dee.account.id } }));
await unwrap(dee.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: dee.account.id, friendId: cy.account.id } } }));
const feedOf = async (who: typeof bob) => (await unwrap(who.client.GET('/feed', { params: { query: { limit: 10 } } }))).data.map((p) => p.text);

t.test('the lagging instance does lag: it stamps what it stamps itself five minutes behind', async (t) => {
  // An account's times are still the instance's (only the posts' matter to the fan-out).
  const behind = (await databaseNow()) - Date.parse(ada.account.createdAt);
  t.ok(behind > LAG_MS - 60_000 && behind < LAG_MS + 60_000, `the account was stamped ${Math.round(behind / 1000)} s behind the database`);
});

t.test('the lagging instance reports how far its clock is behind the database’s (agora_db_clock_offset_seconds)', async (t) => {
  // Measured by the invalidation listener's probes (every quarter of CACHE_MAX_STALENESS_MS).
  let offset = 0;
  await eventually('a probe to measure the offset', 20_000, async () => {
    offset = total(await cluster.scrape(lagging), 'agora_db_clock_offset_seconds');
    return offset > 0;
  });
  t.ok(Math.abs(offset - LAG_MS / 1000) < 5, `the database's clock is ${offset.toFixed(3)} s ahead of the lagging instance's`);
  // The gauge reads 0 until the first probe: until then, nothing was measured.
  let onTime = 0;
  await eventually("a probe of the other instance's", 20_000, async () => {
    onTime = total(await cluster.scrape(worker), 'agora_db_clock_offset_seconds');
    return onTime !== 0;
  });
  t.ok(Math.abs(onTime) < 1, `and ${onTime.toFixed(3)} s ahead of the instance whose clock is right`);
});

t.test("a post made on an instance whose clock lags reaches a friend's kept timeline and feed", async (t) => {
  // Bob's timeline is made at a feed read while the fan-out is fresh.
  await eventually("bob's timeline is kept", 20_000, async () => {
    await feedOf(bob);
    return (await cluster.sql('select 1 from timelines.owner where owner_id = $1', [bob.account.id])).length === 1;
  });
  const post = await unwrap(ada.client.POST('/posts', { body: { text: 'from a lagging clock' } }));
  const skew = Date.parse(post.createdAt) - (await databaseNow());
  t.ok(Math.abs(skew) < 10_000, `the post's time is the database's (${skew} ms from it), not the instance's`);
  t.equal(post.updatedAt, post.createdAt, 'a new post was last changed when it was made');

  await eventually('the fan-out wrote the post into bob’s timeline', 20_000, async () =>
    (await cluster.sql('select 1 from timelines.entry where owner_id = $1 and post_id = $2', [bob.account.id, post.id])).length === 1,
  );
  await eventually("bob's feed shows it", 10_000, async () => (await feedOf(bob)).includes('from a lagging clock'));

  const edited = await unwrap(ada.client.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'edited on a lagging clock' } }));
  t.ok(Date.parse(edited.updatedAt) >= Date.parse(edited.createdAt), 'an edit is stamped by the database too: never before the creation');
  t.ok(Math.abs(Date.parse(edited.updatedAt) - (await databaseNow())) < 10_000, 'the edit is stamped with the database’s time');
});

t.test('an instance whose clock runs ahead still serves kept feed pages, and the right ones', async (t) => {
  const hits = async () => total(await cluster.scrape(ahead), 'agora_cache_lookups_total', { cache: 'feed_pages', outcome: 'hit' });
  await unwrap(cy.client.POST('/posts', { body: { text: 'before the page was kept' } }));
  // Without the database's clock, every heartbeat looked five minutes old here (older than
  // TIMELINE_FRESH_MS), and no feed page was ever served from memory.
  await eventually("dee's page is served from the memory of the instance whose clock runs ahead", 20_000, async () => {
    await feedOf(dee);
    const before = await hits();
    await feedOf(dee);
    return (await hits()) > before;
  });
  t.same(await feedOf(dee), ['before the page was kept']);
  // A kept page is still evicted by what changes it: cy's new post reaches dee's feed.
  await unwrap(cy.client.POST('/posts', { body: { text: 'after the page was kept' } }));
  await eventually("dee's feed shows cy's new post", 20_000, async () => (await feedOf(dee))[0] === 'after the page was kept');
  t.same(await feedOf(dee), ['after the page was kept', 'before the page was kept']);
});

t.test('an instance whose clock lags, or runs ahead, stops serving kept feed pages once the fan-out has been silent for TIMELINE_FRESH_MS', async (t) => {
  const hits = async () => total(await cluster.scrape(lagging), 'agora_cache_lookups_total', { cache: 'feed_pages', outcome: 'hit' });
  await eventually("bob's page is served from the lagging instance's memory", 20_000, async () => {
    await feedOf(bob);
    const before = await hits();
    await feedOf(bob);
    return (await hits()) > before;
  });

  // The fan-out stops with the worker. A post by a friend whose timeline is fanned out to does not
  // evict the reader's pages: only the fan-out's writes (or its silence) do.
  worker.process.kill('SIGTERM');
  await worker.exited;
  await unwrap(ada.client.POST('/posts', { body: { text: 'after the fan-out stopped' } }));
  await unwrap(cy.client.POST('/posts', { body: { text: 'after the fan-out stopped, ahead' } }));
  // Its last heartbeat may have come just before it stopped: FRESH_MS from then, read on demand.
  await eventually("bob's feed is read on demand and shows the new post", FRESH_MS + 8000, async () => (await feedOf(bob)).includes('after the fan-out stopped'));
  // The same holds where the clock runs ahead (its heartbeats' age is counted on the database's clock).
  await eventually("dee's feed is read on demand and shows cy's new post", FRESH_MS + 8000, async () => (await feedOf(dee)).includes('after the fan-out stopped, ahead'));
});
