// Three instances behind a real PgBouncer in transaction mode (DATABASE_URL), each with a direct
// connection for what needs a session (DATABASE_DIRECT_URL: the LISTEN of the invalidations, the
// live streams and the job queue's wake-ups, the stream slots' locks, the migrations and their
// lock). They pass the scenarios of test/cluster.test.ts (helpers/cluster-scenarios.ts): the
// retry storm (idempotency), the update race (If-Match, 412), the caches across instances (a
// sign-out on one is a 401 on the others), durable events (jobs: a friend request and a keyed
// message, notified once), key misuse; and a live stream held on one instance wakes for a write
// made on another. Meanwhile every request shares PgBouncer's few server connections: the counts
// come from pg_stat_activity and PgBouncer's own SHOW POOLS. Without DATABASE_DIRECT_URL, an
// instance behind the pooler says so at start (its LISTEN hears nothing) and bypasses its caches;
// the listener's check is not fooled by a statement of its own in flight (which the pooler could
// run on the server connection that holds the LISTEN), nor by a second connection it cannot open.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import pg from 'pg';
import { unwrap } from 'agora-sdk';
import { ConfigError, loadConfig } from '../src/config.ts';
import { loggedLines, startCluster, type Instance } from './helpers/cluster.ts';
import { PASSWORD, clusterScenarios } from './helpers/cluster-scenarios.ts';
import { total } from './helpers/metrics.ts';
import { pgbouncerAvailable, startPgBouncer } from './helpers/pgbouncer.ts';
import { checkedFetch } from './helpers/agora.ts';
import { openStream } from './helpers/sse.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { InvalidationListener } from '../src/persistence/invalidations.ts';
import type { Log } from '../src/log.ts';

t.setTimeout(300_000);

if (!pgbouncerAvailable()) {
  // .ci/run installs it; a developer machine without it is told so rather than passing silently.
  t.fail('pgbouncer is not installed (apt-get install pgbouncer), or set PGBOUNCER to its path');
  process.exit(1);
}

const BOUND_MS = 1000;
/** PgBouncer's server connections per database: all the requests of the three instances share them. */
const POOL_SIZE = 4;
const adminUrl = process.env.AGORA_TEST_ADMIN_URL!;
const bouncer = await startPgBouncer(adminUrl, { poolSize: POOL_SIZE });
const cluster = await startCluster(t, 3, { CACHE_MAX_STALENESS_MS: String(BOUND_MS) }, { emptyDatabase: true, route: bouncer.route });
// After the cluster's own teardown (tap runs them in reverse order of registration).
t.teardown(() => bouncer.stop());
const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
const run = randomUUID().slice(0, 6);
const scenarios = clusterScenarios(cluster, { boundMs: BOUND_MS, run });
const database = new URL(cluster.databaseUrl).pathname.slice(1);

/** The server connections (backends) on the test's database, by kind. */
async function backends() {
  const rows = await cluster.sql<{ application_name: string; n: number }>(
    `select application_name, count(*)::int as n from pg_stat_activity
      where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
      group by application_name`,
  );
  const of = (name: string) => rows.find((r) => r.application_name === name)?.n ?? 0;
  const all = rows.reduce((sum, r) => sum + r.n, 0);
  return { listeners: of('agora-invalidations'), testPool: of('agora-test'), all, pooled: all - of('agora-invalidations') - of('agora-test') };
}

/** PgBouncer's view of the test database's pool (its admin console, simple queries only). */
async function pool() {
  const admin = new pg.Client({ connectionString: bouncer.route(adminUrl).replace(/\/[^/]*$/, '/pgbouncer') });
  await admin.connect();
  try {
    const { rows } = await admin.query('show pools');
    const row = rows.find((r) => r.database === database) as Record<string, number> | undefined;
    const clients = (await admin.query('show clients')).rows.filter((r) => r.database === database).length;
    return { clients, servers: row ? Number(row.sv_active) + Number(row.sv_idle) + Number(row.sv_used) + Number(row.sv_tested) + Number(row.sv_login) : 0 };
  } finally {
    await admin.end();
  }
}

/** Samples the backends every 100 ms while `work` runs; the most seen at once. */
async function busiest<T>(work: () => Promise<T>): Promise<{ result: T; most: Awaited<ReturnType<typeof backends>> }> {
  let most = { listeners: 0, testPool: 0, all: 0, pooled: 0 };
  let running = true;
  const sampling = (async () => {
    while (running) {
      const now = await backends();
      if (now.pooled > most.pooled) most = now;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    return { result: await work(), most };
  } finally {
    running = false;
    await sampling;
  }
}

t.test('three instances behind PgBouncer start together on an empty database: one migrates (on its direct connection), all listen directly', async (t) => {
  const applied = await cluster.sql<{ name: string; n: number }>('select name, count(*)::int as n from public.mikro_orm_migrations group by name order by name');
  t.ok(applied.length > 0 && applied.every((m) => m.n === 1), 'each migration is recorded once');
  t.equal(cluster.instances.filter((i) => i.logs.some((l) => l.msg === 'applied migrations')).length, 1, 'one instance applied them');
  t.same(cluster.instances.flatMap((i) => i.logs).filter((l) => l.level >= 50), [], 'no errors logged (no listener that hears nothing)');
  for (const instance of cluster.instances) {
    const ready = await fetch(`${instance.origin}/readyz`);
    t.equal(ready.status, 200, `${instance.name} is ready`);
    await ready.body?.cancel();
    const scrape = await cluster.scrape(instance);
    t.equal(total(scrape, 'agora_cache_invalidation_listener_up', {}), 1, `${instance.name}: its invalidation listener is up`);
  }
  const now = await backends();
  t.equal(now.listeners, 3, 'one direct listening connection per instance');
  t.ok(now.pooled <= POOL_SIZE, `the rest are PgBouncer's: ${now.pooled} ≤ ${POOL_SIZE}`);
});

t.test('retry storm behind PgBouncer: 60 creations, each sent 5 times over 3 instances; requests share its few connections', async (t) => {
  const { most } = await busiest(() => scenarios.retryStorm(t, 60));
  const { clients, servers } = await pool();
  t.comment(`during the storm: at most ${most.pooled} pooled backends (+ ${most.listeners} listeners); PgBouncer now holds ${clients} client connections on ${servers} server connections`);
  t.ok(most.pooled <= POOL_SIZE, `never more than default_pool_size (${POOL_SIZE}) pooled backends`);
  t.ok(clients > servers, `more client connections (${clients}) than server connections (${servers})`);
});

t.test('update race behind PgBouncer: 10 clients, If-Match across instances, no update lost', (t) => scenarios.updateRace(t, 10));

t.test('caches behind PgBouncer: a sign-out on one instance is a 401 on the others; a rename, a privacy change and an ended friendship are seen everywhere within the bound', (t) =>
  scenarios.cachesAcross(t, 3));

t.test('jobs behind PgBouncer: a friend request notifies once on any instance; a keyed message is stored, enqueued and notified once', (t) => scenarios.durableEvents(t));

t.test('key misuse behind PgBouncer: the same key with another body is a 422 and creates nothing', (t) => scenarios.keyMisuse(t));

t.test('a live stream held on one instance wakes for a friend request made on another, and a friendship made on one is seen on the others', async (t) => {
  const [adaBody, bobBody] = [scenarios.newAccount('ada_live'), scenarios.newAccount('bob_live')];
  const [ada, bob] = await Promise.all([unwrap(scenarios.client(a).POST('/accounts', { body: adaBody })), unwrap(scenarios.client(b).POST('/accounts', { body: bobBody }))]);
  const adaToken = (await unwrap(scenarios.client(a).POST('/sessions', { body: { email: adaBody.email, password: PASSWORD } }))).token;
  const bobToken = (await unwrap(scenarios.client(c).POST('/sessions', { body: { email: bobBody.email, password: PASSWORD } }))).token;
  const stream = await openStream(checkedFetch(), `${c.baseUrl}/stream`, { authorization: `Bearer ${bobToken}` });
  t.teardown(() => stream.close());
  t.equal(stream.response.status, 200);
  await stream.until('ready', () => stream.events.length >= 1);
  const started = Date.now();
  const request = await unwrap(scenarios.client(a, adaToken).POST('/friend-requests', { body: { accountId: bob.id } }));
  // The periodic recheck is 30 s: only a wake-up (LISTEN on the direct connection) brings it this soon.
  await stream.until('the notification', () => stream.events.some((e) => e.event === 'notification'), 10_000);
  t.comment(`the stream on ${c.name} got it ${Date.now() - started} ms after the request on ${a.name}`);
  const notification = stream.events.find((e) => e.event === 'notification')!;
  t.match(notification.data, { type: 'friendRequestReceived', friendRequestId: request.id });
  t.same(stream.violations, []);

  await unwrap(scenarios.client(b, bobToken).PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.id, friendId: ada.id } } }));
  for (const instance of [a, c]) {
    const friends = await unwrap(scenarios.client(instance, adaToken).GET('/accounts/{accountId}/friends', { params: { path: { accountId: ada.id } } }));
    t.same(friends.data.map((f) => f.account.id), [bob.id], `${instance.name} sees the friendship made on ${b.name}`);
  }
});

t.test('without DATABASE_DIRECT_URL, an instance behind PgBouncer says at start that its LISTEN hears nothing, and bypasses its caches', async (t) => {
  const deaf = await cluster.start('deaf', { DATABASE_DIRECT_URL: '', DATABASE_CONNECT_TIMEOUT_MS: '2000' });
  const error = deaf.logs.find((l) => l.level >= 50);
  t.match(error?.msg, /does not receive its own notifications.*DATABASE_DIRECT_URL/, 'the error names the cause and the setting');
  // Its caches are bypassed: a sign-out elsewhere is a 401 here at once, even after a read that could have cached the session.
  const body = scenarios.newAccount('deafcheck');
  await unwrap(scenarios.client(a).POST('/accounts', { body }));
  const token = (await unwrap(scenarios.client(a).POST('/sessions', { body: { email: body.email, password: PASSWORD } }))).token;
  const headers = { authorization: `Bearer ${token}` };
  for (let i = 0; i < 2; i++) t.equal((await cluster.send(deaf, 'GET', '/v1/sessions/me', { headers })).status, 200);
  t.equal((await cluster.send(a, 'DELETE', '/v1/sessions/me', { headers })).status, 204);
  t.equal((await cluster.send(deaf, 'GET', '/v1/sessions/me', { headers })).status, 401, 'refused at once: nothing was served from a cache it cannot keep');
  const scrape = await cluster.scrape(deaf);
  t.equal(total(scrape, 'agora_cache_lookups_total', { outcome: 'hit' }), 0, 'no cache hit');
  t.ok(total(scrape, 'agora_cache_lookups_total', { cache: 'sessions', outcome: 'bypassed' }) >= 3, 'its session lookups count as bypassed');
  t.equal(total(scrape, 'agora_cache_lookups_total', { cache: 'sessions', outcome: 'miss' }), 0, 'not as misses');
  // Its staleness shows (and alerts): its lag grows past the bound instead of being kept low by
  // its own probes, which a pooler may hand back on a reused server connection.
  let lag = 0;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 250))) {
    lag = total(await cluster.scrape(deaf), 'agora_cache_invalidation_lag_seconds');
    if (lag > (2 * BOUND_MS) / 1000) break;
  }
  t.ok(lag > (2 * BOUND_MS) / 1000, `its invalidation lag grows past the bound (${lag} s)`);
});

/** A Log that keeps its lines, for the listener's own tests below. */
function recordingLog() {
  const lines: { level: 'error' | 'warn' | 'info'; msg: string }[] = [];
  const log: Log = {
    error: (_, msg) => void lines.push({ level: 'error', msg }),
    warn: (_, msg) => void lines.push({ level: 'warn', msg }),
    info: (_, msg) => void lines.push({ level: 'info', msg }),
    debug() {},
  };
  return { log, lines };
}

t.test("the start's check is not fooled by a statement on the listener's own connection: through PgBouncer that statement could run on the server connection holding the LISTEN and be handed the check's notification", async (t) => {
  // A PgBouncer of its own with two server connections and no other client: the LISTEN runs on
  // one, the statement asked for next on the same one (PgBouncer hands out the idle connection
  // used last), and the check's NOTIFY on the other.
  const own = await startPgBouncer(adminUrl, { poolSize: 2 });
  t.teardown(() => own.stop());
  const { log, lines } = recordingLog();
  let asked: Promise<unknown> | undefined;
  const listener: InvalidationListener = new InvalidationListener({
    clientUrl: own.route(cluster.databaseUrl),
    log,
    connectTimeoutMs: 3000,
    // As the listener comes up, something asks for its connection for a while (a session lock, a
    // notice after a commit): the moment the check's notification is out.
    onLiveChange: (live) => {
      if (live) asked ??= listener.query('select pg_sleep(1)', []);
    },
  });
  t.teardown(() => listener.close());
  await listener.start();
  t.match(lines.filter((l) => l.level === 'error').map((l) => l.msg), [/does not receive its own notifications.*DATABASE_DIRECT_URL/], 'found deaf, and said so once');
  t.notOk(listener.fresh, 'its caches are bypassed');
  t.equal(await asked, undefined, 'nothing session-bound ran on a connection found to be a pooler\'s');
  t.equal(await listener.sync(500), false, 'a sync does not claim what it cannot know');
});

t.test('when the check cannot open its second connection, the listener behind PgBouncer is not taken for a direct one: caches stay bypassed until a check gets through, which then finds it deaf', async (t) => {
  const bouncerUrl = new URL(bouncer.route(cluster.databaseUrl));
  const proxy = await startTcpProxy({ host: bouncerUrl.hostname, port: Number(bouncerUrl.port) });
  t.teardown(() => proxy.close());
  proxy.refuse('agora-invalidations-check');
  bouncerUrl.port = String(proxy.port);
  const { log, lines } = recordingLog();
  const listener = new InvalidationListener({ clientUrl: bouncerUrl.href, log, connectTimeoutMs: 2000 });
  t.teardown(() => listener.close());
  await listener.start();
  t.ok(listener.live, 'the listening connection itself is up');
  t.notOk(listener.fresh, 'its caches are bypassed');
  t.same(lines.filter((l) => l.level === 'error'), [], 'nothing is claimed that was not checked');
  t.match(lines.filter((l) => l.level === 'warn').map((l) => l.msg), [/could not check.*caches are bypassed/], 'it says it could not check');
  t.equal(await listener.query('select 1 as one', []), undefined, 'no session-bound statement on an unchecked connection');
  proxy.refuse(undefined);
  // It tries again every 10 s: this one gets through, and finds what the pooler is.
  for (const deadline = Date.now() + 20_000; Date.now() < deadline && !lines.some((l) => l.level === 'error'); ) await new Promise((resolve) => setTimeout(resolve, 200));
  t.match(lines.filter((l) => l.level === 'error').map((l) => l.msg), [/does not receive its own notifications/], 'the next check finds it deaf');
  t.notOk(listener.fresh, 'and its caches stay bypassed');
});

t.test('DATABASE_DIRECT_URL is validated like DATABASE_URL, and needs it', async (t) => {
  const direct = 'postgres://agora@db.internal:5432/agora';
  t.equal(loadConfig({ DATABASE_URL: 'postgres://agora@pgbouncer:6432/agora', DATABASE_DIRECT_URL: direct }).databaseDirectUrl, direct);
  t.equal(loadConfig({ DATABASE_URL: 'postgres://agora@db:5432/agora' }).databaseDirectUrl, undefined, 'unset: DATABASE_URL serves both');
  t.equal(loadConfig({ DATABASE_URL: 'postgres://agora@db:5432/agora', DATABASE_DIRECT_URL: '' }).databaseDirectUrl, undefined, 'empty is unset');
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://agora@db:5432/agora', DATABASE_DIRECT_URL: 'mysql://db/agora' }), new ConfigError('DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL'));
  t.throws(() => loadConfig({ DATABASE_DIRECT_URL: direct }), /DATABASE_DIRECT_URL needs DATABASE_URL/, 'not with the embedded PostgreSQL');
});

// Last, when every instance has served requests: the decision is made, and logged, at an
// instance's first statement on its pool (for the instance started last, perhaps only by its
// last request: its line may still be on its way).
t.test('each instance behind PgBouncer found the pooler: its statements are sent unnamed', async (t) => {
  for (const instance of cluster.instances) {
    // A name prepared on one of PgBouncer's server connections is unknown on the next.
    const naming = await loggedLines(instance, (l) => l.namedStatements !== undefined);
    t.same(naming.map((l) => [l.msg, l.namedStatements]), [['statements are sent unnamed', false]], `${instance.name} found the pooler: its statements are unnamed`);
    t.match(naming[0]?.why, new RegExp(`^PostgreSQL received the connection on [\\d.:a-f]+:\\d+, not on 127\\.0\\.0\\.1:${bouncer.port}: a pooler or proxy may be in between$`), 'and says why');
  }
});
