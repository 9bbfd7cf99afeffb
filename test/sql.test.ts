// The persistence helpers on a real PostgreSQL: the Database and its units of work
// (src/persistence/sql.ts), the conditional write (src/persistence/conditional-write.ts), and a
// keyed creation whose data and idempotency record commit, or roll back, together because the
// unit of work is passed down explicitly.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { v7 as uuidv7 } from 'uuid';
import { conditionalWrite } from '../src/persistence/conditional-write.ts';
import { IdempotencyStore } from '../src/persistence/idempotency/index.ts';
import { persistence } from '../src/domains/index.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { PostsStore } from '../src/persistence/posts/index.ts';
import pg from 'pg';
import { atCommit, CallbackFormClient, closeWith, createDatabase, inlined, plainlyInlined, together, withSavepoint, type Row, type UnitOfWork } from '../src/persistence/sql.ts';
import { connectionOptions } from '../src/jobs/queue.ts';
import { IdempotencyService } from '../src/services/idempotency/idempotency-service.ts';
import { createTestDatabase } from './helpers/agora.ts';

const run = promisify(execFile);
const statements: string[] = [];
/** The statements reported as failed, in order. */
const failures: string[] = [];
const orm = await openDatabase({
  clientUrl: await createTestDatabase(t),
  persistence,
  poolMax: 3,
  onQuery: (sql, _tookMs, failed) => {
    statements.push(sql);
    if (failed) failures.push(sql);
  },
});
t.teardown(() => orm.close(true));
const db = createDatabase(orm);
const posts = new PostsStore(db);

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await db.query<{ n: number }>(`select count(*)::int as n from ${sql}`, params);
  return row!.n;
}

function newPost(text: string) {
  return { id: uuidv7(), authorId: randomUUID(), channelId: null, text };
}

t.test('each statement is reported once, failed or not, and a refusal carries the stack of the code that awaited it', async (t) => {
  const missing = 'select * from posts.no_such_table';
  async function readsTheMissingTable(): Promise<unknown> {
    return await db.query(missing);
  }
  async function readsItInAUnitOfWork(uow: UnitOfWork): Promise<unknown> {
    await uow.query('select 1 as one where $1::int = 1', [1]);
    return await uow.query(missing);
  }
  statements.length = 0;
  failures.length = 0;
  await db.query('select 1 as one where $1::int = 1', [1]);
  const refused = await readsTheMissingTable().catch((error: Error) => error);
  t.match(refused, { code: '42P01' }, 'refused: no such table');
  t.match((refused as Error).stack, /readsTheMissingTable/, "the refusal's stack names the function that awaited the statement");
  t.same(statements, ['select 1 as one where $1::int = 1', missing], 'one report a statement');
  t.same(failures, [missing], 'the refused one reported as failed');

  statements.length = 0;
  failures.length = 0;
  const inside = await db.transaction((uow) => readsItInAUnitOfWork(uow)).catch((error: Error) => error);
  t.match(inside, { code: '42P01' });
  t.match((inside as Error).stack, /readsItInAUnitOfWork/, 'in a unit of work too');
  t.same(statements, ['begin', 'select 1 as one where $1::int = 1', missing, 'rollback'], 'BEGIN, the two statements, ROLLBACK: one report each');
  t.same(failures, [missing], 'only the refused one reported as failed');
});

t.test('a unit of work commits what ran in it when its work resolves, and leaves nothing when it throws', async (t) => {
  const kept = newPost('kept');
  statements.length = 0;
  await db.transaction(async (uow) => {
    await posts.insert(kept, uow);
  });
  t.equal(statements.length, 3, 'BEGIN, the insert and COMMIT, each reported to onQuery');
  t.match(statements, ['begin', /^insert into posts\.post/, 'commit']);
  t.equal(await count('posts.post where id = $1', [kept.id]), 1);

  const lost = [newPost('lost one'), newPost('lost two')];
  await t.rejects(
    db.transaction(async (uow) => {
      for (const post of lost) await posts.insert(post, uow);
      t.equal((await uow.query('select count(*)::int as n from posts.post where id = any($1::uuid[])', [lost.map((p) => p.id)]))[0]!.n, 2, 'visible inside');
      throw new Error('the work failed after its writes');
    }),
    { message: 'the work failed after its writes' },
  );
  t.equal(await count('posts.post where id = any($1::uuid[])', [lost.map((p) => p.id)]), 0, 'rolled back: neither post exists');

  let escaped: { query(sql: string): Promise<unknown> } | undefined;
  await db.transaction(async (uow) => void (escaped = uow));
  await t.rejects(escaped!.query('select 1'), /this unit of work has ended/, 'a unit of work refuses statements once it has ended');

  t.same(await db.query('select 1 as one'), [{ one: 1 }], 'the pool still serves after a rollback');
});

t.test("a unit of work's after-commit callbacks run once it has committed, before its result; never when it rolls back", async (t) => {
  const post = newPost('seen after the commit');
  const seen: number[] = [];
  const order: string[] = [];
  const result = await db.transaction(async (uow) => {
    await posts.insert(post, uow);
    // What another connection sees from the callback: the post, committed (before the change, the
    // callbacks of a keyed create ran here, before its COMMIT).
    uow.afterCommit!(async () => {
      seen.push(await count('posts.post where id = $1', [post.id]));
      order.push('first');
    });
    uow.afterCommit!(() => void order.push('second'));
    order.push('work');
    return 'done';
  });
  order.push('returned');
  t.equal(result, 'done');
  t.same(seen, [1], 'the callback saw the committed row');
  t.same(order, ['work', 'first', 'second', 'returned'], 'in order, before the transaction resolves');

  let ran = false;
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(newPost('rolled back'), uow);
      uow.afterCommit!(() => void (ran = true));
      throw new Error('the work failed');
    }),
    { message: 'the work failed' },
  );
  t.notOk(ran, 'not after a rollback');

  const late = await db.transaction(async (uow) => uow);
  t.throws(() => late.afterCommit!(() => {}), /this unit of work has ended/, 'not once it has ended');
});

t.test('a failed statement in a savepoint leaves the unit of work usable', async (t) => {
  const post = newPost('duplicate id');
  await db.transaction(async (uow) => {
    await posts.insert(post, uow);
    await t.rejects(withSavepoint(uow, () => posts.insert(post, uow)), { code: '23505' });
    const after = newPost('after the failure');
    await posts.insert(after, uow);
  });
  t.equal(await count('posts.post where id = $1', [post.id]), 1, 'the transaction committed despite the failed insert');
});

t.test('a conditional write tells a stale version from a missing row', async (t) => {
  const post = await posts.insert(newPost('v0'));
  const update = (expectedVersion: number | undefined, text: string, id = post.id) =>
    conditionalWrite(
      db,
      { table: 'posts.post', id, expectedVersion, statement: 'update posts.post set text = $1, version = version + 1', params: [text], returning: 'text, version' },
      (row) => ({ text: row.text as string, version: Number(row.version) }),
    );

  t.same(await update(0, 'v1'), { kind: 'done', row: { text: 'v1', version: 1 } }, 'the expected version: written, the row as written');
  t.same(await update(0, 'lost'), { kind: 'stale', currentVersion: 1 }, 'an old version: stale, with the current one');
  t.same(await update(undefined, 'v2'), { kind: 'done', row: { text: 'v2', version: 2 } }, 'no expected version: written whatever the version');
  t.same(await update(2, 'nobody', randomUUID()), { kind: 'not-found' }, 'no such row: not found');

  const remove = (expectedVersion: number | undefined) => conditionalWrite(db, { table: 'posts.post', id: post.id, expectedVersion, statement: 'delete from posts.post' });
  t.same(await remove(1), { kind: 'stale', currentVersion: 2 });
  t.same(await remove(2), { kind: 'done', row: null });
  t.same(await remove(2), { kind: 'not-found' }, 'deleted: not found, not stale');
  t.same(await posts.updateText(post.id, 2, 'gone'), { kind: 'not-found' }, 'the stores end their writes the same way');
});

t.test("a keyed creation's post and its record commit together, or neither does", async (t) => {
  const idempotency = new IdempotencyService(new IdempotencyStore(db), { ttlSeconds: 3600, lockSeconds: 10, cacheEntries: 0, cacheBytes: 0 });
  const request = (key: string) => ({ scope: randomUUID(), operation: 'createPost', key, fingerprint: 'f'.repeat(64) });
  const recordsOf = (key: string) => count('idempotency.record where key = $1', [key]);

  const failing = request(randomUUID());
  const doomed = newPost('written, then the work fails');
  await t.rejects(
    idempotency.execute(failing, async (uow) => {
      await posts.insert(doomed, uow);
      throw new Error('failed after the write');
    }),
    { message: 'failed after the write' },
  );
  t.equal(await count('posts.post where id = $1', [doomed.id]), 0, 'the post was rolled back');
  t.equal(await recordsOf(failing.key), 0, 'and no record was kept: the key is free');

  const discarded = request(randomUUID());
  const unkept = newPost('written, answered with a 5xx');
  const answer = await idempotency.execute(discarded, async (uow) => {
    await posts.insert(unkept, uow);
    return { response: { status: 503, headers: {}, body: null }, keep: false };
  });
  t.same(answer, { response: { status: 503, headers: {}, body: null }, replayed: false }, 'the response is still answered');
  t.equal(await count('posts.post where id = $1', [unkept.id]), 0, 'a response not kept rolls its writes back');
  t.equal(await recordsOf(discarded.key), 0);

  const succeeding = request(randomUUID());
  const created = newPost('created once');
  const body = JSON.stringify({ id: created.id, text: created.text });
  const first = await idempotency.execute(succeeding, async (uow) => {
    await posts.insert(created, uow);
    return { response: { status: 201, headers: { location: `/v1/posts/${created.id}` }, body }, keep: true };
  });
  t.equal(first.replayed, false);
  t.equal(await count('posts.post where id = $1', [created.id]), 1, 'the post committed');
  t.equal(await recordsOf(succeeding.key), 1, 'with its record');
  const retried = newPost('a retry');
  const again = await idempotency.execute(succeeding, async (uow) => {
    await posts.insert(retried, uow);
    return t.fail('a retry must not get past its first write: its claim, sent with it, is refused') as never;
  });
  t.same(again, { response: { status: 201, headers: { location: `/v1/posts/${created.id}` }, body }, replayed: true }, 'the retry gets the recorded response');
  t.equal(again.response.body, body, 'its body the same text');
  t.equal(await count('posts.post where id = $1', [retried.id]), 0, "the retry's write did not run");
  const looked = await idempotency.execute({ ...succeeding, lookupFirst: true }, async () => t.fail('a retry looked up first must not run the work at all') as never);
  t.same(looked, again, 'looked up first, the same');
});

t.test('a recovery statement goes with the ROLLBACK of a transaction that failed as it expects, in no transaction; otherwise a plain ROLLBACK', async (t) => {
  const failing = { sql: 'select 1 / $1::int as n', params: [0] };
  const expected = (error: unknown) => (error as { code?: unknown }).code === '22012';
  const doomed = newPost('rolled back, then read after');
  let taken: Row[] | undefined;
  statements.length = 0;
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(doomed, uow);
    }, { ahead: failing, recovery: { when: expected, statement: { sql: 'select count(*)::int as n, $2::text as said from posts.post where id = $1', params: [doomed.id, "it's after"] }, take: (rows) => void (taken = rows) } }),
    { code: '22012' },
    'the error is still thrown',
  );
  t.same(taken, [{ n: 0, said: "it's after" }], "the recovery's rows, read after the rollback");
  t.equal(statements.length, 2, `the statement ahead with the insert, then the ROLLBACK with the recovery:\n${statements.join('\n')}`);
  t.match(statements[1], /^rollback;\nselect count\(\*\)::int as n, 'it''s after'::text as said from posts\.post where id = '/);

  taken = undefined;
  statements.length = 0;
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(newPost('another failure'), uow);
    }, { ahead: failing, recovery: { when: () => false, statement: { sql: 'select 1 as n' }, take: (rows) => void (taken = rows) } }),
    { code: '22012' },
  );
  t.equal(taken, undefined, 'an error the recovery does not expect: not read');
  t.equal(statements.at(-1), 'rollback', 'a plain ROLLBACK');

  const closedFailing = newPost('closing fails');
  taken = undefined;
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(closedFailing, uow);
      closeWith(uow, failing);
    }, { recovery: { when: expected, statement: { sql: 'select count(*)::int as n from posts.post where id = $1', params: [closedFailing.id] }, take: (rows) => void (taken = rows) } }),
    { code: '22012' },
  );
  t.same(taken, [{ n: 0 }], 'a closing statement refused: read after the ROLLBACK too');
  t.equal((await db.query<{ n: number }>('select 1 as n'))[0]?.n, 1, 'and the connections are usable again');
});

t.test('a statement sent ahead goes with the BEGIN in front of the first statement, or with the COMMIT; its failure fails the transaction whatever the work does', async (t) => {
  const ahead = { sql: 'select 1 / $1::int as n', params: [1] };
  statements.length = 0;
  const post = newPost('sent ahead');
  const rows = await db.transaction(async (uow) => uow.query<{ id: string }>('insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0) returning id', [post.id, post.authorId, "it's ahead"]), { ahead });
  t.same(rows, [{ id: post.id }], "the first statement's own rows");
  t.equal(statements.length, 2, `begin, the statement ahead and the insert; commit:\n${statements.join('\n')}`);
  t.match(statements[0], /^begin;\nselect 1 \/ '1'::int as n;\ninsert into posts\.post/);
  t.equal(statements[1], 'commit');
  t.equal(await count('posts.post where id = $1 and text = $2', [post.id, "it's ahead"]), 1, 'committed');

  statements.length = 0;
  const closed = newPost('nothing but the closing');
  await db.transaction(async (uow) => closeWith(uow, { sql: "insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, 'closed', now(), now(), 0)", params: [closed.id, closed.authorId] }), { ahead });
  t.equal(statements.length, 1, `one round trip: ${statements.join('\n')}`);
  t.match(statements[0], /^begin;\nselect 1 \/ '1'::int as n;\ninsert into posts\.post[\s\S]*;\ncommit$/);
  t.equal(await count('posts.post where id = $1', [closed.id]), 1);

  statements.length = 0;
  const bound = newPost('bound');
  await db.transaction(async (uow) => {
    await uow.query("insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) select $1, $2, null, t, now(), now(), 0 from unnest($3::text[]) t", [bound.id, bound.authorId, ['from an array']]);
  }, { ahead });
  t.equal(statements.length, 3, `parameters that cannot be written in: the BEGIN and the statement ahead on their own:\n${statements.join('\n')}`);
  t.match(statements[0], /^begin;\nselect 1 \/ '1'::int as n$/);
  t.equal(await count('posts.post where id = $1', [bound.id]), 1);

  const failing = { sql: 'select 1 / $1::int as n', params: [0] };
  const doomed = newPost('behind a failing statement');
  let refused: unknown;
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(doomed, uow).catch(() => undefined);
      refused = await uow.query('select 1').catch((error: unknown) => error);
      return 'the work swallowed the failure';
    }, { ahead: failing }),
    { code: '22012' },
    'the failure of the statement ahead is the transaction\'s',
  );
  t.match(refused, { code: '22012' }, 'a statement after it is refused with it');
  t.equal(await count('posts.post where id = $1', [doomed.id]), 0, 'nothing written');
  await t.rejects(db.transaction(async () => 'sends nothing', { ahead: failing }), { code: '22012' }, 'failing with the COMMIT too');
  await t.rejects(db.transaction(async () => 'both', { opening: ahead, ahead }), /not both/);
  t.equal((await db.query<{ n: number }>('select 1 as n'))[0]?.n, 1, 'and the connections are usable again');
});

t.test("statements sent together in a unit of work: one round trip, each statement's rows, each seeing the one before; with a statement ahead; one at a time when a parameter cannot be written in; a failure fails the transaction", async (t) => {
  const insert = "insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0) returning text";
  const first = newPost("it's first");
  statements.length = 0;
  const results = await db.transaction(async (uow) =>
    together(uow, [
      { sql: insert, params: [first.id, first.authorId, first.text] },
      { sql: 'select count(*)::int as n from posts.post where id = $1', params: [first.id] },
    ]),
  );
  t.same(results, [[{ text: "it's first" }], [{ n: 1 }]], 'the rows of each, the second seeing the first');
  t.equal(statements.length, 3, `begin, the two together, commit:\n${statements.join('\n')}`);
  t.match(statements[1], /^insert into posts\.post .*;\nselect count/s);
  t.equal(await count('posts.post where id = $1', [first.id]), 1, 'committed');

  const ahead = { sql: 'select 1 / $1::int as n', params: [1] };
  const second = newPost('after the statement ahead');
  statements.length = 0;
  const [insertedRows] = await db.transaction(async (uow) => together(uow, [{ sql: insert, params: [second.id, second.authorId, second.text] }]), { ahead });
  t.same(insertedRows, [{ text: second.text }], "the statement's own rows, not those of the BEGIN or the statement ahead");
  t.equal(statements.length, 2, `with the BEGIN and the statement ahead, then the COMMIT:\n${statements.join('\n')}`);
  t.match(statements[0], /^begin;\nselect 1 \/ '1'::int as n;\ninsert into posts\.post/);

  const arrayed = newPost('from an array');
  statements.length = 0;
  const sequential = await db.transaction(async (uow) =>
    together(uow, [
      { sql: "insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) select $1, $2, null, t, now(), now(), 0 from unnest($3::text[]) t returning text", params: [arrayed.id, arrayed.authorId, [arrayed.text]] },
      { sql: 'select count(*)::int as n from posts.post where id = $1', params: [arrayed.id] },
    ]),
  );
  t.same(sequential, [[{ text: arrayed.text }], [{ n: 1 }]], 'the same answer');
  t.equal(statements.length, 4, `one at a time when a parameter cannot be written in:\n${statements.join('\n')}`);

  const doomed = newPost('before a failing statement');
  await t.rejects(
    db.transaction(async (uow) => {
      await together(uow, [
        { sql: insert, params: [doomed.id, doomed.authorId, doomed.text] },
        { sql: 'select 1 / $1::int as n', params: [0] },
      ]).catch(() => undefined);
      return uow.query('select 1');
    }),
    { code: '25P02' },
    'the transaction is aborted',
  );
  t.equal(await count('posts.post where id = $1', [doomed.id]), 0, 'and nothing sent with the failing statement is written');
  statements.length = 0;
  const plain = await together({ transaction: true, query: async (sql, params) => db.query(sql, params) }, [
    { sql: 'select $1::int as n', params: [5] },
    { sql: 'select $1::int as m', params: [6] },
  ]);
  t.same(plain, [[{ n: 5 }], [{ m: 6 }]], 'a unit of work that cannot send them together sends them one at a time');
  t.equal(statements.length, 2);
});

t.test('transactions leave a connection for single statements: units of work that read on the pool never wait for each other', async (t) => {
  // The pool has 3 connections. Were all 3 held by transactions that each then read on the pool
  // (as a keyed post reads its author's summary), every read would wait for a connection that
  // no transaction gives back until it has its read: each would fail at the connect timeout.
  const started = performance.now();
  const results = await Promise.all(
    [1, 2, 3, 4, 5, 6].map((n) =>
      db.transaction(async (uow) => {
        await uow.query('select pg_sleep(0.05)');
        const [row] = await db.query<{ n: number }>('select $1::int as n', [n]);
        return row!.n;
      }),
    ),
  );
  t.same(results, [1, 2, 3, 4, 5, 6], 'every transaction read and committed');
  t.ok(performance.now() - started < 4000, 'without waiting for the connect timeout');
});

t.test('a transaction opened with its first statement and closed with its last: one round trip each, the same rows, and a failing last statement commits nothing', async (t) => {
  const tricky = ["it's", 'back\\slash', 'E\'\\x41\'', '$1 and $$', 'ünïcödé', ''];
  const params = [...tricky, 42, -1.5, true, null, new Date('2026-01-02T03:04:05.678Z')];
  const sql = `select ${params.map((_, i) => `$${i + 1}${i < tricky.length ? '::text' : i < 8 ? '::numeric' : i === 8 ? '::boolean' : i === 9 ? '::text' : '::timestamptz'} as v${i}`).join(', ')}`;
  const [bound] = await db.query(sql, params);
  statements.length = 0;
  const post = newPost('opened and closed');
  const opened = await db.transaction(
    async (uow, rows) => {
      await posts.insert(post, uow);
      closeWith(uow, { sql: 'update posts.post set text = $1 where id = $2', params: ['closed', post.id] });
      return rows;
    },
    { opening: { sql, params } },
  );
  t.same(opened, [bound], 'literals written in read back as the bound parameters did');
  t.equal(statements.length, 3, `begin with the opening, the insert, the closing with commit:\n${statements.join('\n')}`);
  t.match(statements[0], /^begin;\n/);
  t.match(statements[2], /;\ncommit$/);
  t.equal((await db.query<{ text: string }>('select text from posts.post where id = $1', [post.id]))[0]?.text, 'closed', 'the closing statement committed with the rest');

  const doomed = newPost('closing fails');
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(doomed, uow);
      closeWith(uow, { sql: 'insert into posts.post select * from posts.post where id = $1', params: [post.id] });
    }),
    { code: '23505' },
  );
  t.equal(await count('posts.post where id = $1', [doomed.id]), 0, 'a refused closing statement rolls everything back');
  t.equal((await db.query<{ n: number }>('select 1 as n'))[0]?.n, 1, 'and the connection is usable again');

  t.throws(() => inlined({ sql: 'select $1', params: [[1, 2]] }), /cannot inline/);
  t.throws(() => inlined({ sql: 'select $1', params: [Number.NaN] }), /cannot inline/);
  t.throws(() => inlined({ sql: 'select $2', params: [1] }), /no parameter \$2/);
  t.throws(() => closeWith({ transaction: true, query: async () => [] }, { sql: 'select 1' }), /only a unit of work opened by Database.transaction/);
});

t.test('statements held until the COMMIT go with it, before the closing statement, in one round trip; never when the work throws; a failing one commits nothing', async (t) => {
  const insert = (post: ReturnType<typeof newPost>, text: string) => ({
    sql: 'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0)',
    params: [post.id, post.authorId, text],
  });
  const [first, held, second, closing] = [newPost('first'), newPost('held'), newPost('second'), newPost('closing')];
  statements.length = 0;
  let seen: number | undefined;
  await db.transaction(async (uow) => {
    await posts.insert(first, uow);
    t.equal(atCommit(uow, insert(held, "held, it's")), true, 'held');
    seen = (await uow.query<{ n: number }>('select count(*)::int as n from posts.post where id = $1', [held.id]))[0]?.n;
    await posts.insert(second, uow);
    closeWith(uow, insert(closing, 'closing'));
  });
  t.equal(seen, 0, 'not sent before the COMMIT: the work does not see it');
  t.equal(statements.length, 5, `begin, three statements, then the held one, the closing one and the commit:\n${statements.join('\n')}`);
  t.match(statements[4], /^insert into posts\.post[\s\S]*'held, it''s'[\s\S]*;\ninsert into posts\.post[\s\S]*'closing'[^;]*;\ncommit$/);
  t.equal(await count('posts.post where id = any($1::uuid[])', [[first.id, held.id, second.id, closing.id]]), 4, 'all four committed');

  const dropped = newPost('dropped');
  await t.rejects(
    db.transaction(async (uow) => {
      atCommit(uow, insert(dropped, 'dropped'));
      throw new Error('the work fails');
    }),
    /the work fails/,
  );
  t.equal(await count('posts.post where id = $1', [dropped.id]), 0, 'a work that throws sends nothing it held');

  const written = newPost('written, then refused at commit');
  await t.rejects(
    db.transaction(async (uow) => {
      await posts.insert(written, uow);
      atCommit(uow, insert(first, 'a duplicate'));
    }),
    { code: '23505' },
  );
  t.equal(await count('posts.post where id = $1', [written.id]), 0, 'a held statement refused rolls everything back');
  t.equal((await db.query<{ n: number }>('select 1 as n'))[0]?.n, 1, 'and the connection is usable again');

  t.equal(atCommit(db, insert(newPost('pool'), 'on the pool')), false, 'not held on the pool: the caller sends it');
  await db.transaction(async (uow) => {
    t.equal(atCommit(uow, { sql: 'select $1::int[]', params: [[1, 2]] }), false, 'nor when a parameter cannot be written in');
  });
  let ended: UnitOfWork | undefined;
  await db.transaction(async (uow) => void (ended = uow));
  t.throws(() => atCommit(ended!, insert(newPost('late'), 'late')), /has ended/, 'nor once the transaction has ended');
});

t.test('statements run atomically: one message, one transaction, each seeing the one before; a failure leaves nothing', async (t) => {
  const first = newPost('first of two');
  const second = newPost('second of two');
  statements.length = 0;
  const results = await db.atomically([
    { sql: 'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0) returning text', params: [first.id, first.authorId, first.text] },
    { sql: 'select count(*)::int as n from posts.post where id = $1', params: [first.id] },
  ]);
  t.equal(statements.length, 1, 'one round trip, reported as one statement');
  t.same(results, [[{ text: 'first of two' }], [{ n: 1 }]], 'the rows of each, the second seeing the first');

  await t.rejects(
    db.atomically([
      { sql: 'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0)', params: [second.id, second.authorId, second.text] },
      { sql: 'select 1 / 0 as never' },
    ]),
    /division by zero/,
  );
  t.equal(await count('posts.post where id = $1', [second.id]), 0, 'the failure rolled the first statement back');
  t.same(await db.query('select 1 as one'), [{ one: 1 }], 'and left the pool usable');
  t.throws(() => inlined({ sql: 'select $1', params: [[1, 2]] }), /cannot inline/, 'only values that can be written as literals');
});

t.test("the job queue's client class answers pg's promise form as pg does: the whole result, or the server's error with the caller's stack", async (t) => {
  const client = new CallbackFormClient({ connectionString: orm.config.get('clientUrl') }) as unknown as pg.Client;
  await client.connect();
  t.teardown(() => client.end());
  const values = await client.query<{ n: number }>('select n from generate_series(1, $1::int) n', [3]);
  t.same(values.rows, [{ n: 1 }, { n: 2 }, { n: 3 }], 'the rows');
  t.equal(values.rowCount, 3, 'and the row count');
  t.equal(values.command, 'SELECT', 'and the command, as pg-boss reads them');
  const several = (await client.query('select 1 as a; select 2 as b')) as unknown as pg.QueryResult[];
  t.same(several.map((r) => r.rows), [[{ a: 1 }], [{ b: 2 }]], 'the simple protocol: one result per statement');
  async function failing() {
    return await client.query('select * from no_such_table');
  }
  const error = await failing().catch((e: unknown) => e);
  t.ok(error instanceof pg.DatabaseError, 'an error of the server is refused as pg refuses it');
  t.equal((error as pg.DatabaseError).code, '42P01', 'with its code');
  t.match((error as Error).stack, /failing/, "and a stack through the caller's awaits");
  const viaCallback = await new Promise<unknown[]>((resolve, reject) => client.query('select 7 as seven', (e, r) => (e ? reject(e) : resolve(r.rows))));
  t.same(viaCallback, [{ seven: 7 }], 'the callback form is untouched');
});

t.test("the job queue's client sends a transaction's BEGIN with its first statement; a transaction that sent nothing sends nothing; the pool's next borrower never gets a BEGIN left behind", async (t) => {
  // pg-boss's transactional worker opens each job's transaction with client.query('BEGIN') on a
  // connection of its pool, and ends it with 'COMMIT' or 'ROLLBACK' (src/jobs/queue.ts).
  const pool = new pg.Pool(connectionOptions(orm.config.get('clientUrl')!, 1) as unknown as pg.PoolConfig);
  t.teardown(() => pool.end());
  const insert = 'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0) returning id, text';
  const visible = (post: { id: string }) => count('posts.post where id = $1', [post.id]);
  // Round trips, counted as the server's ReadyForQuery messages (one ends every query message).
  let trips = 0;
  const counted = new WeakSet<object>();
  const borrow = async () => {
    const client = await pool.connect();
    const connection = (client as unknown as { connection: { on(event: string, listener: () => void): void } }).connection;
    if (!counted.has(connection)) connection.on('readyForQuery', () => void trips++);
    counted.add(connection);
    return client;
  };
  const client = await borrow();
  trips = 0;

  const first = newPost('the first statement, with its BEGIN');
  t.same((await client.query('BEGIN')).command, 'BEGIN', 'the BEGIN is answered as pg answers it');
  t.equal(trips, 0, 'without a round trip');
  const inserted = await client.query(insert, [first.id, first.authorId, first.text]);
  t.same(inserted.rows, [{ id: first.id, text: first.text }], "the first statement's rows");
  t.equal(inserted.rowCount, 1, 'and its row count');
  t.equal(inserted.command, 'INSERT', 'and its command');
  t.equal(trips, 1, 'the BEGIN and the first statement in one round trip');
  t.equal(await visible(first), 0, 'inside a transaction: not visible before its COMMIT');
  const second = await client.query('select count(*)::int as n from posts.post where id = $1', [first.id]);
  t.same(second.rows, [{ n: 1 }], 'the next statement runs in the same transaction, as it is');
  await client.query('COMMIT');
  t.equal(await visible(first), 1, 'and all of it commits');
  t.equal(trips, 3, 'the second statement and the COMMIT: a round trip each');

  trips = 0;
  await client.query('BEGIN');
  await client.query('ROLLBACK');
  await client.query('BEGIN');
  await client.query('COMMIT');
  t.equal(trips, 0, 'a transaction that sent nothing sends nothing');

  const arrayed = newPost('an array parameter');
  await client.query('BEGIN');
  await client.query("insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) select $1, $2, null, t, now(), now(), 0 from unnest($3::text[]) t", [arrayed.id, arrayed.authorId, [arrayed.text]]);
  t.equal(trips, 2, 'a statement whose parameters cannot be written in, or whose text has quotes, goes after the BEGIN sent on its own');
  t.equal(await visible(arrayed), 0, 'still inside the transaction');
  await client.query('ROLLBACK');
  t.equal(await visible(arrayed), 0, 'which rolls back');

  trips = 0;
  await client.query('BEGIN');
  const quoted = await client.query("select 'it''s $1' as v, $1::text as w", ['x']);
  t.same(quoted.rows, [{ v: "it's $1", w: 'x' }], 'a text with quotes keeps its $1 inside them as it is');
  t.equal(trips, 2);
  await client.query('ROLLBACK');

  const refused = newPost('refused first statement');
  await client.query('BEGIN');
  await t.rejects(client.query(insert, [refused.id, refused.authorId, null]), { code: '23502' }, "a first statement refused: the server's error");
  await t.rejects(client.query('select 1'), { code: '25P02' }, 'inside the transaction it aborted');
  await client.query('ROLLBACK');
  t.same((await client.query('select 1 as one')).rows, [{ one: 1 }], 'which the ROLLBACK ends');

  const several = (await (async () => {
    await client.query('BEGIN');
    return client.query('select 1 as a; select 2 as b');
  })()) as unknown as pg.QueryResult[];
  t.same(several.map((r) => r.rows), [[{ a: 1 }], [{ b: 2 }]], "a simple query's several statements: one result each, without the BEGIN's");
  await client.query('ROLLBACK');

  // pg-boss's time bound on a job's transaction, its first statement: held with the BEGIN, both
  // sent with the handler's first statement.
  const bound = "SELECT set_config($1, LEAST($2::bigint, NULLIF((SELECT s.setting::bigint FROM pg_settings s WHERE s.name = $1), 0))::text, true)";
  const bounded = newPost('after the bound');
  trips = 0;
  await client.query('BEGIN');
  t.same((await client.query(bound, ['idle_in_transaction_session_timeout', '123456'])).rows, [], 'the bound is answered at once, with no rows');
  t.equal(trips, 0, 'without a round trip');
  await client.query(insert, [bounded.id, bounded.authorId, bounded.text]);
  t.equal(trips, 1, 'the BEGIN, the bound and the first statement in one round trip');
  t.same((await client.query("select current_setting('idle_in_transaction_session_timeout') as v")).rows, [{ v: '123456ms' }], 'the bound is set in the transaction');
  await client.query('ROLLBACK');
  t.equal(await visible(bounded), 0, 'and the statement ran in it');
  t.same((await client.query("select current_setting('idle_in_transaction_session_timeout') as v")).rows, [{ v: '0' }], 'for that transaction only');
  trips = 0;
  await client.query('BEGIN');
  await client.query(bound, ['idle_in_transaction_session_timeout', '123456']);
  await client.query('COMMIT');
  t.equal(trips, 0, 'a transaction that sent nothing but its bound sends nothing');
  await client.query('BEGIN');
  await client.query(bound, ['no_such_setting', '1']);
  await t.rejects(client.query('select 1'), /no_such_setting/, 'a bound refused fails the statement it went with');
  await client.query('ROLLBACK');
  t.same((await client.query('select 1 as one')).rows, [{ one: 1 }], 'which the ROLLBACK ends');

  await client.query('BEGIN');
  client.release();
  const again = await borrow();
  t.equal(again, client, 'the same connection, lent again');
  const outside = newPost('after a BEGIN given back unsent');
  trips = 0;
  await again.query(insert, [outside.id, outside.authorId, outside.text]);
  t.equal(trips, 1);
  t.equal(await visible(outside), 1, 'a BEGIN held when the connection went back to the pool was dropped: the next statement commits on its own');
  again.release();

  t.equal(plainlyInlined('select $1::int + $2', [1, 2]), "select '1'::int + '2'");
  for (const text of ["select 'a' || $1", 'select "x" from t where y = $1', 'select $1 -- note', 'select /* note */ $1', 'select $$a$$ || $1', 'select $tag$a$tag$ || $1']) {
    t.equal(plainlyInlined(text, ['v']), undefined, `not written in: ${text}`);
  }
  t.equal(plainlyInlined('select $1', [[1]]), undefined, 'nor a parameter that is no plain value');
});

t.test("the job queue's client holds a SAVEPOINT or RELEASE SAVEPOINT in its transaction and sends it with the next statement; a rollback to a savepoint keeps what came before it", async (t) => {
  // A batch of jobs runs each job in a savepoint of the batch's transaction (src/jobs/queue.ts).
  const pool = new pg.Pool(connectionOptions(orm.config.get('clientUrl')!, 1) as unknown as pg.PoolConfig);
  t.teardown(() => pool.end());
  const insert = 'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, $3, now(), now(), 0) returning id';
  const visible = (post: { id: string }) => count('posts.post where id = $1', [post.id]);
  const client = await pool.connect();
  let trips = 0;
  (client as unknown as { connection: { on(event: string, listener: () => void): void } }).connection.on('readyForQuery', () => void trips++);
  t.teardown(() => client.release());

  const [a, b, c] = [newPost('before the savepoint'), newPost('in a savepoint released'), newPost('in a savepoint rolled back')];
  await client.query('BEGIN');
  await client.query(insert, [a.id, a.authorId, a.text]);
  t.equal(trips, 1, 'the BEGIN with the first statement');
  t.equal((await client.query('SAVEPOINT agora_job')).command, 'SAVEPOINT', 'a SAVEPOINT is answered as pg answers it');
  t.equal(trips, 1, 'without a round trip');
  const inB = await client.query(insert, [b.id, b.authorId, b.text]);
  t.same(inB.rows, [{ id: b.id }], "the next statement's own result, not the savepoint's");
  t.equal(trips, 2, 'the savepoint with it, in one round trip');
  t.equal((await client.query('RELEASE SAVEPOINT agora_job')).command, 'RELEASE');
  await client.query('SAVEPOINT agora_job');
  t.equal(trips, 2, 'a release and the next savepoint: held, both');
  await t.rejects(client.query(insert, [c.id, c.authorId, null]), { code: '23502' }, 'a statement refused after them');
  // pg refuses the statement on the server's error, which can come before that query's
  // ReadyForQuery: counted once the next statement has been answered.
  await client.query('ROLLBACK TO SAVEPOINT agora_job');
  t.equal(trips, 4, 'the release, the savepoint and the refused statement in one round trip; the rollback to the savepoint in one more, at once');
  t.same((await client.query('select count(*)::int as n from posts.post where id = any($1::text[]::uuid[])', [[a.id, b.id, c.id]])).rows, [{ n: 2 }], 'the transaction goes on, with what came before the savepoint');
  await client.query('RELEASE SAVEPOINT agora_job');
  await client.query('COMMIT');
  t.equal(trips, 6, 'a release held at the COMMIT is dropped: the COMMIT alone');
  t.same([await visible(a), await visible(b), await visible(c)], [1, 1, 0], 'what ran before the savepoint and in the released one commits; the statement rolled back to it does not');

  trips = 0;
  await client.query('BEGIN');
  await client.query('SAVEPOINT agora_job');
  await client.query('RELEASE SAVEPOINT agora_job');
  await client.query('ROLLBACK');
  t.equal(trips, 0, 'a transaction that sent nothing but savepoints sends nothing');

  await t.rejects(client.query('SAVEPOINT agora_job'), { code: '25P01' }, 'outside a transaction, a SAVEPOINT goes to the server, which refuses it');
  t.same((await client.query('select 1 as one')).rows, [{ one: 1 }], 'and nothing is left held');
});

t.test("a statement's rows die young: a page read, in a unit of work, on the pool or in a job's transaction, sends little to V8's old generation", async (t) => {
  // pg's promise form (client.query without a callback) sent about 14 KB of such a page's rows
  // through the young generation into the old one (bench/README.md, "A statement's rows, kept
  // young"): more full collections under load. Measured with V8's sampling heap profiler, in a
  // process of its own (test/helpers/young-rows-probe.ts), keeping only what the young
  // generation's collections did not free.
  const authorId = randomUUID();
  for (let i = 0; i < 21; i++) await posts.insert({ ...newPost(`${i} ${'x'.repeat(400)}`), authorId });
  const probe = join(import.meta.dirname, 'helpers/young-rows-probe.ts');
  const { stdout } = await run(process.execPath, [probe, orm.config.get('clientUrl')!, authorId]);
  const measured = JSON.parse(stdout) as { pool: number; unitOfWork: number; jobTransaction: number; rows: number };
  t.equal(measured.rows, 21, 'every read was a full page of 21 rows');
  // A page of 21 rows of 400 characters is about 12 KB; what outlives the young generation's
  // collections is the pool's and the profiler's own (a few hundred bytes a statement).
  t.ok(measured.pool < 3000, `on the pool: ${measured.pool} bytes a statement outlive the young generation (under 3,000)`);
  t.ok(measured.unitOfWork < 3000, `in a unit of work: ${measured.unitOfWork} bytes a statement outlive the young generation (under 3,000)`);
  // pg-boss runs a job's statements through pg's promise form, on a pool of its own: the job
  // queue gives that pool a client class whose promise form goes through the callback form.
  t.ok(measured.jobTransaction < 3000, `in a job's transaction (pg-boss's pool): ${measured.jobTransaction} bytes a statement outlive the young generation (under 3,000)`);
});
