// Three server processes started at the same moment on one empty database all come up (they
// take turns at migrating it). Then the two correctness promises under load, across them:
// a creating call retried in a storm (with dropped connections) creates once; concurrent
// updates through different instances lose nothing; a key reused for another request creates
// nothing; and an instance killed mid-request neither duplicates nor strands a key. Also the
// caches' promise: a sign-out, a rename or a channel change is in effect on every instance once
// the staleness bound (CACHE_MAX_STALENESS_MS) has passed, even on one whose invalidations stall.
// Every loop here is bounded in count and in time.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import pg from 'pg';
import { createAgoraClient, unwrap, type Account } from 'agora-sdk';
import { loggedLines, startCluster, type Instance } from './helpers/cluster.ts';
import { PASSWORD, clusterScenarios } from './helpers/cluster-scenarios.ts';
import { total, type Scrape } from './helpers/metrics.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

// Three server processes, a storm of argon2 sign-ups and the waits for the staleness bound: on a
// busy two-core machine this file needs more than the suite's default of 120 s.
t.setTimeout(600_000);

// The staleness bound the instances run with (CACHE_MAX_STALENESS_MS): how long a change made
// on one instance may go unseen by the caches of another.
const BOUND_MS = 1000;
// Started together on an empty database: startCluster fails if any of them dies at start-up.
const cluster = await startCluster(t, 3, { CACHE_MAX_STALENESS_MS: String(BOUND_MS) }, { emptyDatabase: true });
const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
const run = randomUUID().slice(0, 6);

t.test('three instances started together on an empty database: all serve, one migrates, each migration runs once', async (t) => {
  const applied = await cluster.sql<{ name: string; n: number }>('select name, count(*)::int as n from public.mikro_orm_migrations group by name order by name');
  t.ok(applied.length > 0, 'the database was migrated');
  t.ok(applied.every((m) => m.n === 1), 'each migration is recorded once');
  const migrators = cluster.instances.filter((i) => i.logs.some((l) => l.msg === 'applied migrations'));
  t.equal(migrators.length, 1, 'one instance applied the migrations; the others found nothing to do');
  t.same(migrators[0]!.logs.find((l) => l.msg === 'applied migrations')!.migrations, applied.map((m) => m.name));
  t.same(cluster.instances.flatMap((i) => i.logs).filter((l) => l.level >= 50), [], 'no errors logged');
  for (const instance of cluster.instances) {
    // Outside the contract: plain fetch.
    const ready = await fetch(`${instance.origin}/readyz`);
    t.equal(ready.status, 200, `${instance.name} is ready`);
    await ready.body?.cancel();
  }
});

const scenarios = clusterScenarios(cluster, { boundMs: BOUND_MS, run });
const { newAccount, client, advisoryLocksHeld, boundPassed } = scenarios;

/**
 * Holds a lock that stops every insert into accounts.account until released: requests then
 * wait mid-transaction, after taking their key.
 */
async function blockSignUps(t: { teardown(fn: () => unknown): void }) {
  const blocker = new pg.Client({ connectionString: cluster.databaseUrl });
  blocker.on('error', () => {});
  await blocker.connect();
  await blocker.query('begin');
  await blocker.query('lock table accounts.account in share mode');
  let held = true;
  const release = async () => {
    if (!held) return;
    held = false;
    await blocker.query('commit');
    await blocker.end();
  };
  t.teardown(release);
  return release;
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
async function eventually(what: string, timeoutMs: number, condition: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

t.test('retry storm: 200 creations, each sent 5 times at once over 3 instances, some dropped mid-request', (t) => scenarios.retryStorm(t, 200));

t.test('update race: 20 clients update one post through 3 instances; no update is lost', (t) => scenarios.updateRace(t, 20));

const hits = (scrape: Scrape, cache: string) => total(scrape, 'agora_cache_lookups_total', { cache, outcome: 'hit' });

t.test('caches across instances: a sign-out, a new display name, a channel made private and an ended friendship take effect at once where made, and everywhere within the staleness bound', (t) => scenarios.cachesAcross(t, 6));

t.test('an instance whose invalidation connection stalls bypasses its caches instead of serving what changed elsewhere', async (t) => {
  const target = new URL(cluster.databaseUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const routed = new URL(cluster.databaseUrl);
  routed.port = String(proxy.port);
  const lagging = await cluster.start('lagging', { DATABASE_URL: routed.toString() });
  t.teardown(async () => {
    proxy.thaw();
    lagging.process.kill('SIGTERM');
    await lagging.exited;
    await proxy.close();
  });

  const owner = newAccount('stalled');
  const account = await unwrap(client(a).POST('/accounts', { body: owner }));
  const token = (await unwrap(client(lagging).POST('/sessions', { body: { email: owner.email, password: PASSWORD } }))).token;
  const headers = { authorization: `Bearer ${token}` };
  const post = (await cluster.send(a, 'POST', '/v1/posts', { headers, body: { text: 'read through a stalled instance' } })).json as { id: string };

  // The caches are in play there: both the session and the author get served from them.
  await eventually('the lagging instance serves the session and the author from its caches', 30_000, async () => {
    const before = await cluster.scrape(lagging);
    t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 200);
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'User stalled');
    const after = await cluster.scrape(lagging);
    return hits(after, 'sessions') > hits(before, 'sessions') && hits(after, 'account_summaries') > hits(before, 'account_summaries');
  });

  t.equal(proxy.freeze('agora-invalidations'), 1, "the instance's invalidation connection is stalled (open, silent)");
  const renamed = await cluster.send(b, 'PATCH', `/v1/accounts/${account.id}`, {
    headers: { ...headers, 'if-match': '"0"', 'content-type': 'application/merge-patch+json' },
    body: { displayName: 'Renamed meanwhile' },
  });
  t.equal(renamed.status, 200);
  t.equal((await cluster.send(b, 'DELETE', '/v1/sessions/me', { headers })).status, 204, 'signed out on another instance');
  const changedAt = performance.now();
  await boundPassed(changedAt);

  const before = await cluster.scrape(lagging);
  t.ok(total(before, 'agora_cache_invalidation_lag_seconds') >= BOUND_MS / 1000, `its invalidation lag is past the bound: ${total(before, 'agora_cache_invalidation_lag_seconds')} s`);
  t.equal(total(before, 'agora_cache_invalidation_listener_up'), 1, 'although its connection is still up');
  for (let i = 0; i < 3; i++) {
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Renamed meanwhile', 'the new name, read from the database');
    t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 401, 'the signed-out token is refused, although no notification could reach it');
  }
  const during = await cluster.scrape(lagging);
  t.equal(hits(during, 'sessions') - hits(before, 'sessions'), 0, 'no session was served from its cache');
  t.equal(hits(during, 'account_summaries') - hits(before, 'account_summaries'), 0, 'no author was served from its cache');
  const bypassed = (scrape: Scrape, cache: string) => total(scrape, 'agora_cache_lookups_total', { cache, outcome: 'bypassed' });
  t.ok(bypassed(during, 'sessions') - bypassed(before, 'sessions') >= 3, 'its session lookups count as bypassed (alert AgoraCachesBypassed)');
  t.ok(bypassed(during, 'account_summaries') - bypassed(before, 'account_summaries') >= 3, 'and its author lookups');

  proxy.thaw();
  await eventually('its invalidations catch up and the lag falls back under the bound', 30_000, async () => {
    return total(await cluster.scrape(lagging), 'agora_cache_invalidation_lag_seconds') < BOUND_MS / 1000;
  });
  t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 401, 'still refused once caught up');
  await eventually('it serves from its caches again', 30_000, async () => {
    const before = await cluster.scrape(lagging);
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Renamed meanwhile');
    return hits(await cluster.scrape(lagging), 'account_summaries') > hits(before, 'account_summaries');
  });
});

t.test('durable events across instances: a friend request notifies once, within a second or two, on any instance; a message sent four times with one key is stored, enqueued and notified once', (t) => scenarios.durableEvents(t));

t.test('key misuse across instances: the same key with another body is a 422 and creates nothing', (t) => scenarios.keyMisuse(t));

t.test('crash: an instance killed while it processes keyed creations; the keys are retried on another', async (t) => {
  // Long enough that every probe below is answered while the dead instance's keys are still
  // held, even on a machine busy with other work (each probe gets PROBE_MS).
  const LEASE_SECONDS = 8;
  const PROBE_MS = 4000;
  const doomed = await cluster.start('doomed', { IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS) });

  // Finished before the crash: committed with their keys.
  const done = Array.from({ length: 10 }, (_, i) => ({ key: randomUUID(), body: newAccount(`crashdone${i}`) }));
  const ids = await Promise.all(done.map(async ({ key, body }) => {
    const res = await cluster.send(doomed, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body });
    t.equal(res.status, 201);
    return res.json.id as string;
  }));

  // In flight at the crash: a table lock held by the test stops them after they have taken
  // their keys, inside their transactions, so that the kill lands mid-transaction. The
  // instance's pool has 10 connections, of which transactions may hold 8 (two stay for single
  // statements, src/persistence/sql.ts): 8 requests wait there, the other 12 for a turn.
  const release = await blockSignUps(t);
  const inFlight = Array.from({ length: 20 }, (_, i) => ({ key: randomUUID(), body: newAccount(`crashfly${i}`) }));
  const doomedSends = inFlight.map(({ key, body }) => cluster.send(doomed, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body }).catch(() => 'connection lost'));
  await eventually('8 of its transactions hold their keys and wait for the table', 60_000, async () => {
    const [row] = await cluster.sql<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'insert into accounts.account %'`,
    );
    return row!.n >= 8;
  });

  const killedAt = Date.now();
  doomed.process.kill('SIGKILL');
  await doomed.exited;
  t.same(new Set(await Promise.all(doomedSends)), new Set(['connection lost']), 'no answer came back from the killed instance');
  const held = await cluster.sql<{ objid: number }>(
    `select l.objid from pg_locks l where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())`,
  );
  t.ok(held.length >= 8, "just after the crash, the dead instance's keys are still held");
  // A retry meanwhile of every key: the ones the dead instance holds are in flight; the ones it
  // never started run now, and wait for the table as their predecessors did. (Spread over the
  // three instances, so that those waiting do not fill one instance's pool of 10 connections.)
  const probes = await Promise.all(
    inFlight.map(({ key, body }, i) =>
      cluster.send(cluster.instances[i % 3]!, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body, signal: AbortSignal.timeout(PROBE_MS) }).then(
        (res) => (res.status === 409 && res.json.type === 'urn:agora:problem:idempotency-in-flight' ? 'in flight' : `${res.status}`),
        () => 'waiting',
      ),
    ),
  );
  t.equal(probes.filter((p) => p === 'in flight').length, held.length, 'a retry of a key the dead instance holds is 409 in flight, not a duplicate');
  t.ok(probes.every((p) => p === 'in flight' || p === 'waiting'), JSON.stringify(probes));

  await release();
  await eventually('the dead owner releases its keys within the lease', (LEASE_SECONDS + 3) * 1000, async () => (await advisoryLocksHeld()) === 0);
  const releasedMs = Date.now() - killedAt;
  t.ok(releasedMs <= (LEASE_SECONDS + 3) * 1000, `keys free ${releasedMs} ms after the crash (lease ${LEASE_SECONDS} s)`);

  // Retried on the surviving instances (by the SDK, which re-sends the same key).
  const retried = await Promise.all(
    inFlight.map(async ({ key, body }, i) => {
      const { data, response } = await client(cluster.instances[i % 2]!).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
      t.equal(response.status, 201);
      return data!.id;
    }),
  );
  t.equal(new Set(retried).size, 20);
  const replayed = await Promise.all(
    done.map(async ({ key, body }) => {
      const { data, response } = await client(b).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
      t.equal(response.headers.get('idempotent-replayed'), 'true');
      return data!.id;
    }),
  );
  t.same(replayed, ids, 'what the dead instance had committed is replayed, not created again');

  const handles = [...done, ...inFlight].map(({ body }) => body.handle);
  const rows = await cluster.sql<{ handle: string; n: number }>('select handle, count(*)::int as n from accounts.account where handle = any($1) group by handle', [handles]);
  t.equal(rows.length, 30, 'every key created its account');
  t.ok(rows.every((r) => r.n === 1), 'and only one');
});

t.test('a frozen instance (its connections open but silent) keeps a key no longer than the lease', async (t) => {
  const LEASE_SECONDS = 2;
  const frozen = await cluster.start('frozen', { IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS) });
  const release = await blockSignUps(t);
  const { key, body } = { key: randomUUID(), body: newAccount('frozen') };
  void cluster.send(frozen, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body }).catch(() => {});
  await eventually('the frozen instance holds the key', 10_000, async () => (await advisoryLocksHeld()) >= 1);
  frozen.process.kill('SIGSTOP');
  t.teardown(() => {
    frozen.process.kill('SIGKILL');
  });
  const frozenAt = Date.now();
  // PostgreSQL ends the statement after the lease, then the idle transaction after another:
  // the key comes free although the process never closes its connection.
  await eventually('the key is released', (2 * LEASE_SECONDS + 3) * 1000, async () => (await advisoryLocksHeld()) === 0);
  t.comment(`released ${Date.now() - frozenAt} ms after the instance froze`);
  await release();
  const res = await unwrap(client(c).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } }));
  t.equal(res.handle, body.handle);
  const [{ n }] = (await cluster.sql('select count(*)::int as n from accounts.account where handle = $1', [body.handle])) as [{ n: number }];
  t.equal(n, 1);
});

// Last, when every instance has served requests: the decision is made, and logged, at an
// instance's first statement on its pool.
t.test('an instance straight to PostgreSQL prepares its statements under names; one through a TCP proxy finds the proxy and sends them unnamed', async (t) => {
  t.ok(cluster.instances.some((i) => i.name === 'lagging'), 'the instance behind a proxy ran');
  // Not the instances killed above (SIGKILL, SIGSTOP): a process's log lines go out in batches,
  // and a killed one's last batch may never have been written.
  for (const instance of [a, b, c, ...cluster.instances.filter((i) => i.name === 'lagging')]) {
    const naming = await loggedLines(instance, (l) => l.namedStatements !== undefined);
    if (instance.name === 'lagging') {
      // Its DATABASE_URL is a TCP proxy's: PostgreSQL received its connections from the proxy.
      t.same(naming.map((l) => [l.msg, l.namedStatements]), [['statements are sent unnamed', false]], 'lagging, behind a proxy: unnamed');
      t.match(naming[0]?.why, /^PostgreSQL received the connection on [\d.:a-f]+:\d+, not on 127\.0\.0\.1:\d+: a pooler or proxy may be in between$/, 'and says why');
    } else {
      t.same(naming.map((l) => [l.msg, l.namedStatements]), [['statements are prepared under names', true]], `${instance.name}: planned once per connection (statement-names.ts)`);
    }
  }
});
