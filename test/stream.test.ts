// GET /v1/stream, over a source of the test's own (test/helpers/stream-source.ts): events arrive
// live, on whichever instance they were written, and resume with Last-Event-ID exactly, even
// when transactions commit out of seq order. The transport's bounds: stream-transport.test.ts.
import pg from 'pg';
import t, { type Test } from 'tap';
import { startAgora } from './helpers/agora.ts';
import { total } from './helpers/metrics.ts';
import { bodies, eventually, stream, TABLE, testSource, type TestSource } from './helpers/stream-source.ts';
import { SAFE_ROW_SQL, streamTail, TAIL_WAIT_MARK, WAKE_STREAMS_SQL } from '../src/persistence/stream-rows.ts';

t.setTimeout(300_000);

t.test('events arrive live, typed, with resumable ids; the first is ready', async (t) => {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();
  const bob = await agora.signUp();
  // Written before the stream opens: a stream without Last-Event-ID starts after the last row
  // that is safe to deliver (one whose transaction is older than every running one, anywhere).
  const before = await source.write(alice.account.id, 'before');
  await eventually('the row written before to be safe', async () => {
    const { rows } = await source.pool.query(`select ${SAFE_ROW_SQL} as safe from ${TABLE.table} where seq = $1`, [String(before)]);
    return rows[0].safe === true;
  }, 60_000);

  const s = await stream(agora, alice.token);
  t.teardown(() => s.close());
  t.equal(s.response.status, 200);
  t.match(s.response.headers.get('content-type'), /^text\/event-stream/);
  t.equal(s.response.headers.get('cache-control'), 'private, no-store');
  t.equal(s.response.headers.get('content-encoding'), null, 'never compressed (it would be buffered)');
  await s.until('ready', () => s.events.length >= 1);
  t.same(s.events[0]!.event, 'ready');
  t.same(s.events[0]!.data, { resumed: false });
  t.match(s.events[0]!.id, /^n\d+-\d+\.m\d+-\d+\.t\d+-\d+$/, 'the position names each source (notifications, messages, the test\'s), its transaction id and seq');
  t.equal(s.retry, 1000, 'clients are told when to reconnect');

  await source.write(alice.account.id, 'one');
  await source.write(bob.account.id, 'not for alice');
  await source.write(alice.account.id, 'two');
  await s.until('two events', () => bodies(s).length >= 2);
  t.same(bodies(s), ['one', 'two'], "only the caller's events, in order, none from before the stream opened");
  const ids = s.events.map((e) => /\bt(\d+)-(\d+)$/.exec(e.id)!.slice(1).map(BigInt) as [bigint, bigint]);
  const after = (a: [bigint, bigint], b: [bigint, bigint]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  t.ok(after(ids[1]!, ids[0]!) && after(ids[2]!, ids[1]!), 'ids grow');
  t.same(s.violations, [], 'every declared event conforms to the contract');

  const metrics = await agora.scrape();
  t.equal(total(metrics, 'agora_stream_open'), 1, 'the open stream is counted');
  t.ok(total(metrics, 'agora_stream_events_total', { type: 'test' }) >= 2, 'events are counted by type');

  const options = await agora.raw('OPTIONS', '/v1/stream', { headers: { authorization: `Bearer ${alice.token}` } });
  t.equal(options.status, 204);
  t.match(options.headers.get('allow'), /GET/);
});

t.test('no token: 401; a Last-Event-ID the stream did not issue: 400', async (t) => {
  const agora = await startAgora(t);
  await testSource(t, agora);
  const alice = await agora.signUp();
  const anonymous = await stream(agora, undefined);
  t.equal(anonymous.response.status, 401);
  t.match(anonymous.response.headers.get('www-authenticate'), /Bearer/);
  for (const id of ['garbage', 't5', 'z5-1', 't1-1.t2-2', 't1-1.t1-2', `t${'9'.repeat(25)}-1`, `t1-${'9'.repeat(25)}`]) {
    const s = await stream(agora, alice.token, id);
    t.equal(s.response.status, 400, id);
    const problem = (await s.response.json()) as { type: string; errors: { pointer: string }[] };
    t.equal(problem.type, 'urn:agora:problem:validation-error', id);
    t.equal(problem.errors[0]?.pointer, 'header/last-event-id', id);
  }
});

t.test('a write on one instance wakes a stream held on another within seconds', async (t) => {
  const a = await startAgora(t);
  const b = await startAgora(t, {}, { databaseUrl: a.databaseUrl });
  const onA = await testSource(t, a);
  await testSource(t, b);
  const alice = await a.signUp();
  const s = await stream(b, alice.token);
  t.teardown(() => s.close());
  await s.until('ready', () => s.events.length >= 1);
  const started = Date.now();
  await onA.write(alice.account.id, 'across');
  // The periodic recheck is 30 s: only the wake-up can bring it this soon.
  await s.until('the event on the other instance', () => bodies(s).length >= 1, 5000);
  t.same(bodies(s), ['across']);
  t.comment(`delivered ${Date.now() - started} ms after the commit`);
});

t.test('Last-Event-ID delivers exactly the missed events, once, in order, even when commits come out of order', async (t) => {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();

  const first = await stream(agora, alice.token);
  await first.until('ready', () => first.events.length >= 1);
  await source.write(alice.account.id, 'e1');
  await first.until('e1', () => bodies(first).length >= 1);
  const lastSeen = first.events.at(-1)!.id;
  first.close();
  await first.ended;

  // While the client is away: one transaction draws a seq and stays open while a later one commits.
  const held = await source.pool.connect();
  t.teardown(() => held.release());
  await held.query('begin');
  await held.query(`insert into ${TABLE.table} (account_id, body) values ($1, 'e2 (committed last)')`, [alice.account.id]);
  await held.query(WAKE_STREAMS_SQL, [alice.account.id]);
  await source.write(alice.account.id, 'e3');

  const resumed = await stream(agora, alice.token, lastSeen);
  t.teardown(() => resumed.close());
  await resumed.until('ready', () => resumed.events.length >= 1);
  t.same(resumed.events[0]!.data, { resumed: true });
  t.equal(resumed.events[0]!.id, lastSeen, 'it starts where the client left');
  // e3 is committed, but a transaction that may still commit a smaller seq is running: held back.
  const rows = await source.pool.query(`select count(*)::int as n from ${TABLE.table} where account_id = $1`, [alice.account.id]);
  t.equal(rows.rows[0].n, 2, 'e1 and e3 are committed');
  t.same(bodies(resumed), [], 'nothing is delivered past a seq that may still commit');

  await held.query('commit');
  await source.write(alice.account.id, 'e4');
  await resumed.until('e2, e3, e4', () => bodies(resumed).length >= 3);
  t.same(bodies(resumed), ['e2 (committed last)', 'e3', 'e4'], 'the missed events, each once, in (txid, seq) order');

  // Dropped mid-way: reconnecting with the last id received gets exactly what followed it.
  const at = resumed.events.at(-1)!.id;
  resumed.close();
  await resumed.ended;
  await source.write(alice.account.id, 'e5');
  await source.write(alice.account.id, 'e6');
  const again = await stream(agora, alice.token, at);
  t.teardown(() => again.close());
  await again.until('e5, e6', () => bodies(again).length >= 2);
  await source.write(alice.account.id, 'e7');
  await again.until('e7', () => bodies(again).length >= 3);
  t.same(bodies(again), ['e5', 'e6', 'e7']);
  t.same(again.violations, []);
});


t.test('a transaction that took its id first but its seq last is delivered before a running one, which is not lost', async (t) => {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();
  const first = await stream(agora, alice.token);
  t.teardown(() => first.close());
  await first.until('ready', () => first.events.length >= 1);

  // R takes its transaction id, then T inserts (a later id, the smaller seq), then R inserts (the
  // larger seq) and commits while T is still running.
  const r = await source.pool.connect();
  const tx = await source.pool.connect();
  t.teardown(() => {
    r.release();
    tx.release();
  });
  await r.query('begin');
  await r.query('select pg_current_xact_id()');
  await tx.query('begin');
  const [tRow] = (await tx.query(`insert into ${TABLE.table} (account_id, body) values ($1, 'T') returning seq`, [alice.account.id])).rows;
  await tx.query(WAKE_STREAMS_SQL, [alice.account.id]);
  const [rRow] = (await r.query(`insert into ${TABLE.table} (account_id, body) values ($1, 'R') returning seq`, [alice.account.id])).rows;
  await r.query(WAKE_STREAMS_SQL, [alice.account.id]);
  await r.query('commit');
  t.ok(BigInt(rRow.seq) > BigInt(tRow.seq), 'R drew the larger seq');

  // R is deliverable (every transaction older than it has ended); the stream reads it.
  await first.until('R', () => bodies(first).length >= 1);
  t.same(bodies(first), ['R']);
  const afterR = first.events.at(-1)!.id;
  first.close();
  await first.ended;

  await tx.query('commit');
  const resumed = await stream(agora, alice.token, afterR);
  t.teardown(() => resumed.close());
  await resumed.until('T', () => bodies(resumed).length >= 1);
  t.same(bodies(resumed), ['T'], 'the client that resumed after R gets T');
  await source.write(alice.account.id, 'next');
  await resumed.until('next', () => bodies(resumed).length >= 2);
  t.same(bodies(resumed), ['T', 'next'], 'each once');
});

/** Whether `body`, committed for the account, is deliverable yet (no older transaction runs anywhere on the server). */
async function deliverable(source: TestSource, accountId: string, body: string): Promise<boolean> {
  const { rows } = await source.pool.query(`select ${SAFE_ROW_SQL} as safe from ${TABLE.table} where account_id = $1 and body = $2`, [accountId, body]);
  return rows[0].safe;
}

/** Whether a stream's start is waiting for older transactions of its database (streamTail's marked statement). */
async function tailWaiting(source: TestSource): Promise<boolean> {
  // This statement holds the mark too (in its pattern): it is told apart by its own comment.
  const { rows } = await source.pool.query(
    `select /* tailWaiting */ count(*)::int as n from pg_stat_activity
      where datname = current_database() and query like $1 and query not like '%tailWaiting%'`,
    [`%${TAIL_WAIT_MARK}%`],
  );
  return rows[0].n > 0;
}

/** A transaction of this database, begun and given its id, that writes nothing yet. */
async function olderTransaction(t: Test, source: TestSource): Promise<pg.PoolClient> {
  const older = await source.pool.connect();
  t.teardown(async () => {
    await older.query('rollback').catch(() => {});
    older.release();
  });
  await older.query('begin');
  await older.query('select pg_current_xact_id()');
  return older;
}

/**
 * A server with the test source, alice, a transaction of its database older than alice's row
 * 'before' (committed, so not yet deliverable), and alice's stream opening: resolved once its
 * start is seen waiting for that transaction, which the caller then ends.
 */
async function openingBehindOlderTransaction(t: Test) {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();
  const older = await olderTransaction(t, source);
  await source.write(alice.account.id, 'before');
  t.equal(await deliverable(source, alice.account.id, 'before'), false, "'before' is committed, not yet deliverable");
  const opening = stream(agora, alice.token);
  await eventually('the start waiting for the older transaction', () => tailWaiting(source));
  return { source, alice, older, opening };
}

t.test('a stream that starts now carries nothing committed before it opened, though an older transaction was still running', async (t) => {
  const { source, alice, older, opening } = await openingBehindOlderTransaction(t);
  await older.query('commit');
  const s = await opening;
  t.teardown(() => s.close());
  await s.until('ready', () => s.events.length >= 1);
  await source.write(alice.account.id, 'after');
  await s.until('after', () => bodies(s).length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(bodies(s), ['after'], 'only what was committed after it opened');
});

t.test('what an older transaction commits for the account after a stream opened is not lost', async (t) => {
  const { source, alice, older, opening } = await openingBehindOlderTransaction(t);
  await older.query(`insert into ${TABLE.table} (account_id, body) values ($1, 'late')`, [alice.account.id]);
  await older.query(WAKE_STREAMS_SQL, [alice.account.id]);
  await older.query('commit');
  const s = await opening;
  t.teardown(() => s.close());
  await source.write(alice.account.id, 'after');
  await s.until('late and after', () => bodies(s).includes('late') && bodies(s).includes('after'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  // 'late' sorts before 'before' (its transaction is older): the stream starts just before it,
  // and so carries 'before' too, rather than lose 'late'.
  t.same(bodies(s), ['late', 'before', 'after'], 'in (txid, seq) order, each once');
});

t.test("a stream's start does not wait for another database's transactions, nor for ever", async (t) => {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();
  const elsewhere = new pg.Client({ connectionString: process.env.AGORA_TEST_ADMIN_URL });
  await elsewhere.connect();
  t.teardown(() => elsewhere.end());
  await elsewhere.query('begin');
  await elsewhere.query('select pg_current_xact_id()');
  await source.write(alice.account.id, 'before');
  t.equal(await deliverable(source, alice.account.id, 'before'), false, "another database's transaction holds 'before' back too");

  const started = performance.now();
  const s = await stream(agora, alice.token);
  t.teardown(() => s.close());
  await s.until('ready', () => s.events.length >= 1);
  const ms = performance.now() - started;
  t.ok(ms < 15_000, `opened without waiting for it (${Math.round(ms)} ms; the test source would wait up to 30 s)`);
  await elsewhere.query('commit');
  await source.write(alice.account.id, 'after');
  await s.until('after', () => bodies(s).length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(bodies(s), ['after'], 'only what was committed after it opened');

  // A transaction of this database that runs longer than the wait: the stream starts at the last
  // deliverable row, so that nothing committed later is lost (what was committed before may come too).
  const older = await olderTransaction(t, source);
  await source.write(alice.account.id, 'held');
  const [{ txid, seq }] = (await source.pool.query(`select txid::text, seq::text from ${TABLE.table} where account_id = $1 and body = 'after'`, [alice.account.id])).rows;
  t.same(await streamTail(source.db, TABLE, alice.account.id, 100), { txid: BigInt(txid), seq: BigInt(seq) }, 'after 100 ms: the last deliverable row');
  await older.query('commit');
  const [held] = (await source.pool.query(`select txid::text, seq::text from ${TABLE.table} where account_id = $1 and body = 'held'`, [alice.account.id])).rows;
  t.same(await streamTail(source.db, TABLE, alice.account.id, 100), { txid: BigInt(held.txid), seq: BigInt(held.seq) }, 'once it ended: the last row');
});
