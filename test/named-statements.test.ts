// Named prepared statements on a real PostgreSQL (src/persistence/statement-names.ts, sql.ts):
// on a direct connection the stores' statements are prepared once per connection and reused;
// DATABASE_NAMED_STATEMENTS=off sends them unnamed; a statement whose result a migration changed
// is answered all the same, and unnamed from then on. (Behind PgBouncer, where names would
// break, an instance finds the pooler and sends them unnamed: test/pgbouncer.test.ts.)
import { randomUUID } from 'node:crypto';
import t from 'tap';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { persistence } from '../src/domains/index.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { PostsStore } from '../src/persistence/posts/index.ts';
import { atCommit, createDatabase } from '../src/persistence/sql.ts';
import type { StatementNaming } from '../src/persistence/statement-names.ts';
import { createTestDatabase } from './helpers/agora.ts';

const url = await createTestDatabase(t);

/** A Database on a pool of one connection (so that every statement shares its session), what it logged, and the texts it sent. */
async function open(namedStatements?: StatementNaming) {
  const sent: string[] = [];
  const logged: { fields: Record<string, unknown>; message: string }[] = [];
  const log = {
    error: () => {},
    warn: () => {},
    info: (fields: object, message: string) => void logged.push({ fields: fields as Record<string, unknown>, message }),
    debug: () => {},
  };
  const orm = await openDatabase({ clientUrl: url, persistence, poolMax: 1, log: log as never, onQuery: (sql) => void sent.push(sql), ...(namedStatements ? { namedStatements } : {}) });
  t.teardown(() => orm.close(true));
  const db = createDatabase(orm);
  /** The statements prepared in the pool's one session, by name. */
  const prepared = async () =>
    new Map((await db.query<{ name: string; statement: string }>('select name, statement from pg_prepared_statements')).map((r) => [r.name, r.statement]));
  return { db, logged, prepared, sent };
}

const authorId = randomUUID();
async function seedPosts(db: ReturnType<typeof createDatabase>) {
  const store = new PostsStore(db);
  for (const text of ['one', 'two', 'three']) await store.insert({ id: uuidv7(), authorId, channelId: null, text });
  return store;
}

t.test('on a direct connection (auto, the default) a statement is prepared under a name once, and reused', async (t) => {
  const { db, logged, prepared } = await open();
  t.same(logged, [], 'nothing is asked before the first statement');
  const store = await seedPosts(db);
  t.same(logged.map((l) => l.message), ['statements are prepared under names'], 'the first statement asked the database, once, and the decision was logged');
  t.equal(logged[0]!.fields.namedStatements, true);
  t.match(logged[0]!.fields.why, /straight to PostgreSQL \(127\.0\.0\.1:\d+\)/, 'with why');
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await store.list({ of: { authorId }, newestFirst: true, limit: 10 }));
  t.same(pages[0]!.map((p) => p.text), ['three', 'two', 'one'], "the author's posts, newest first");
  t.same(pages[1], pages[0], 'the same page each time');
  t.same(pages[2], pages[0]);
  const statements = await prepared();
  const listing = [...statements].filter(([, text]) => text.includes('from posts.post p where p.author_id = $1'));
  t.equal(listing.length, 1, 'the page statement is prepared once in the session, for its three runs');
  t.match(listing[0]![0], /^agora_[0-9a-z]+$/, 'under its name');
  t.ok([...statements.values()].some((text) => text.startsWith('insert into posts.post')), 'so is the insert');

  // In a transaction: its first statement goes with the BEGIN, in one message, written out; the
  // ones after it are named too.
  const inside = await db.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    const [row] = await uow.query<{ n: number }>('select count(*)::int as n from posts.post where author_id = $1', [authorId]);
    return row!.n;
  });
  t.equal(inside, 3, "the transaction's statement answered");
  t.ok([...(await prepared()).values()].includes('select count(*)::int as n from posts.post where author_id = $1'), "a transaction's later statement is prepared under a name too");
});

t.test('DATABASE_NAMED_STATEMENTS=off: statements are sent unnamed', async (t) => {
  const { db, logged, prepared } = await open('off');
  const store = new PostsStore(db);
  const page = await store.list({ of: { authorId }, newestFirst: true, limit: 10 });
  t.same(page.map((p) => p.text), ['three', 'two', 'one'], 'the same page');
  t.same([...(await prepared()).keys()], [], 'nothing is prepared in the session');
  t.same(logged.map((l) => [l.message, l.fields.why]), [['statements are sent unnamed', 'DATABASE_NAMED_STATEMENTS=off']], 'and the start says so');
});

t.test('a named statement whose result a migration changed is answered all the same, and sent unnamed from then on', async (t) => {
  const { db, prepared } = await open();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query('create table public.named_stale (id int primary key, a int not null)');
  await admin.query('insert into public.named_stale values (1, 5)');
  const text = 'select a from public.named_stale where id = $1';
  t.same(await db.query(text, [1]), [{ a: 5 }], 'an int');
  t.ok([...(await prepared()).values()].includes(text), 'prepared under a name');
  // What a migration run by another instance does: the column's type changes under the prepared statement.
  await admin.query('alter table public.named_stale alter column a type text');
  t.same(await db.query(text, [1]), [{ a: '5' }], 'answered after the change, with the new type: PostgreSQL refused the prepared statement, and it was sent again unnamed');
  t.same(await db.query(text, [1]), [{ a: '5' }], 'and again');
  // In a transaction, the same text: unnamed already, so it does not fail the transaction.
  const inTransaction = await db.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    return uow.query(text, [1]);
  });
  t.same(inTransaction, [{ a: '5' }], 'a transaction that sends it is not refused');
});

t.test("a statement held for the COMMIT and marked reused is prepared once per direct connection (SQL PREPARE), then executed by name; written in whole elsewhere and after a failure", async (t) => {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  await admin.query('create table public.reused_rows (id int primary key, body jsonb not null)');
  const count = async () => Number((await admin.query('select count(*)::int as n from public.reused_rows')).rows[0].n);
  // A text that types its parameter itself, as pg-boss's job insert does (`$1::text::json`).
  const text = "insert into public.reused_rows (id, body) select (r->>'id')::int, r->'body' from json_array_elements($1::text::json) as r  ;\n";
  const held = (rows: { id: number; body: unknown }[]) => ({ sql: text, params: [JSON.stringify(rows)], reused: true });

  const { db, prepared, sent } = await open();
  const lastSent = () => sent.at(-1) ?? '';
  await db.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    t.ok(atCommit(uow, held([{ id: 1, body: { quote: "it's" } }])), 'held');
    t.ok(atCommit(uow, held([{ id: 2, body: null }])), 'and another of the same text');
  });
  t.equal(await count(), 2, 'both committed');
  const names = async () => [...(await prepared())].filter(([name]) => name.startsWith('agora_reused_'));
  const found = await names();
  t.equal(found.length, 1, 'prepared once in the session, for the two');
  t.match(found[0]![1], /^prepare agora_reused_[0-9a-z]+ as insert into public\.reused_rows/, 'its text as sent');
  t.notMatch(found[0]![1], /;\s*$/, 'without the trailing semicolon');
  await db.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    atCommit(uow, held([{ id: 3, body: [1, 2] }]));
  });
  t.match(lastSent(), /^execute agora_reused_[0-9a-z]+\('\[\{"id":3,"body":\[1,2\]\}\]'\);\ncommit$/, 'the next transaction executes it by name, its parameter written in');
  t.equal(await count(), 3, 'and it committed');
  t.same((await admin.query('select body from public.reused_rows where id = 3')).rows, [{ body: [1, 2] }], 'its parameter written in');
  t.equal((await names()).length, 1, 'not prepared again');

  // A transaction whose executed statement is refused after its PREPARE ran: nothing commits, and
  // the connection's next transactions still work (a name prepared twice would be refused).
  const { db: fresh, prepared: freshPrepared, sent: freshSent } = await open();
  await t.rejects(
    fresh.transaction(async (uow) => {
      await uow.query('select 1 as warm where $1::int = 1', [1]);
      atCommit(uow, held([{ id: 4, body: 'new' }]));
      atCommit(uow, held([{ id: 1, body: 'a duplicate' }]));
    }),
    { code: '23505' },
  );
  t.equal(await count(), 3, 'the refused transaction committed nothing');
  t.equal([...(await freshPrepared()).keys()].filter((name) => name.startsWith('agora_reused_')).length, 1, 'its PREPARE outlived it');
  await fresh.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    atCommit(uow, held([{ id: 4, body: 'again' }]));
  });
  t.match(freshSent.at(-1), /^insert into public\.reused_rows[\s\S]*'\[\{"id":4,"body":"again"\}\]'[\s\S]*;\ncommit$/, 'the next transaction on that connection writes it in whole: whether its name exists there is unknown');
  t.equal(await count(), 4, 'and commits it');

  // Where the connection is not known to be direct (`on` says nothing of a pooler), written in whole.
  const { db: on, prepared: onPrepared, sent: onSent } = await open('on');
  await on.transaction(async (uow) => {
    await uow.query('select 1 as warm where $1::int = 1', [1]);
    atCommit(uow, held([{ id: 5, body: 'on' }]));
  });
  t.match(onSent.at(-1), /^insert into public\.reused_rows[\s\S]*'\[\{"id":5,"body":"on"\}\]'[\s\S]*;\ncommit$/, 'sent whole');
  t.equal(await count(), 5, 'committed');
  t.same([...(await onPrepared()).keys()].filter((name) => name.startsWith('agora_reused_')), [], 'nothing prepared by SQL');
});
