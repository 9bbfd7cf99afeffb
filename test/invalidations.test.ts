// The cache invalidation listener (src/persistence/invalidations.ts) on a real PostgreSQL: its
// one connection carries probes (one per `sync`, which concurrent requests call), session
// locks and LISTENs, one statement at a time, never a query queued behind another inside pg
// (deprecated in pg 8.23, gone in pg 9: "Calling client.query() when the client is already
// executing a query").
import pg from 'pg';
import t from 'tap';
import { InvalidationListener } from '../src/persistence/invalidations.ts';
import { createEmptyDatabase } from './helpers/postgres.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

t.test('concurrent syncs, locks and subscriptions share the connection one statement at a time', async (t) => {
  const { url, drop } = await createEmptyDatabase();
  t.teardown(drop);
  const listener = new InvalidationListener({ clientUrl: url });
  t.teardown(() => listener.close());
  await listener.start();

  // Each query sent on a connection that already has one waiting in pg's queue: what pg deprecates.
  const original = pg.Client.prototype.query;
  let queuedBehindAnother = 0;
  let sent = 0;
  pg.Client.prototype.query = function (this: pg.Client & { _queryQueue?: unknown[] }, ...args: unknown[]) {
    sent += 1;
    if ((this._queryQueue?.length ?? 0) > 0) queuedBehindAnother += 1;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  t.teardown(() => {
    pg.Client.prototype.query = original;
  });

  const subscribed = listener.subscribe('agora_test_channel', () => {}, () => {});
  const results = await Promise.all([
    ...Array.from({ length: 8 }, () => listener.sync()),
    listener.query<{ locked: boolean }>('select pg_try_advisory_lock(42) as locked', []),
    listener.query<{ unlocked: boolean }>('select pg_advisory_unlock(42) as unlocked', []),
  ]);
  const subscription = await subscribed;
  t.same(results.slice(0, 8), Array(8).fill(true), 'every sync saw its echo');
  t.same(results[8] && typeof results[8] === 'object' ? results[8].rows : undefined, [{ locked: true }], 'the lock was taken on the listening connection');
  t.same(results[9] && typeof results[9] === 'object' ? results[9].rows : undefined, [{ unlocked: true }], 'and released there, after it: statements keep their order');
  await subscription.close();
  t.ok(sent >= 11, `the statements were sent (${sent})`);
  t.equal(queuedBehindAnother, 0, 'none was queued behind another inside pg');
});

t.test("its probes measure how far the database's clock is from this process's", async (t) => {
  const { url, drop } = await createEmptyDatabase();
  t.teardown(drop);
  const listener = new InvalidationListener({ clientUrl: url });
  t.teardown(() => listener.close());
  t.equal(listener.clockOffsetMs, undefined, 'nothing is measured before the first probe');
  await listener.start();
  t.ok(await listener.sync(), 'a probe came back');
  const offset = listener.clockOffsetMs;
  // The test's PostgreSQL runs on this machine's clock: the reading is off by at most half a
  // round trip (and the round trips measured are under a second).
  t.ok(offset !== undefined && Math.abs(offset) < 500, `measured ${offset} ms`);
});

t.test('when its check cannot open a second connection, the listener is not trusted until a check gets through: caches bypassed, no session lock, then both again', async (t) => {
  const { url, drop } = await createEmptyDatabase();
  t.teardown(drop);
  const direct = new URL(url);
  const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
  t.teardown(() => proxy.close());
  proxy.refuse('agora-invalidations-check');
  direct.hostname = '127.0.0.1';
  direct.port = String(proxy.port);
  const lines: { level: string; msg: string }[] = [];
  const line = (level: string) => (_: object, msg: string) => void lines.push({ level, msg });
  const listener = new InvalidationListener({ clientUrl: direct.href, connectTimeoutMs: 2000, log: { error: line('error'), warn: line('warn'), info: line('info'), debug() {} } });
  t.teardown(() => listener.close());
  await listener.start();
  t.ok(listener.live, 'the listening connection is up');
  t.notOk(listener.fresh, 'caches are bypassed');
  t.equal(await listener.sync(500), false, 'a sync is not answered by a probe on the connection itself');
  t.equal(await listener.query('select pg_try_advisory_lock(7) as locked', []), undefined, 'no session lock is taken on it');
  t.same(lines.map((l) => l.level), ['warn'], 'a warning, not an error: nothing was found wrong');
  t.match(lines[0]?.msg, /could not check/);

  proxy.refuse(undefined);
  // Tried again every 10 s.
  for (const deadline = Date.now() + 20_000; Date.now() < deadline && !listener.fresh; ) await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(listener.fresh, 'once a check gets through, caches serve again');
  t.match(lines.map((l) => l.msg), [/could not check/, /now receives notifications from other connections/], 'and it says so');
  t.equal(await listener.sync(), true, 'syncs are answered');
  t.same((await listener.query<{ locked: boolean }>('select pg_try_advisory_lock(7) as locked', []))?.rows, [{ locked: true }], 'session locks are taken on it again');
});
