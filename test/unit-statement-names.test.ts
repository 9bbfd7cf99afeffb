// Named prepared statements (src/persistence/statement-names.ts): which texts get a name, and
// how a connection is found to be direct (not through a pooler).
import t from 'tap';
import { isDirect, isStalePlan, namingFor, statementName, stopNaming, type ProbedClient } from '../src/persistence/statement-names.ts';

t.test('a text always gets the same name, another text another, and a text that selects all columns none', async (t) => {
  const page = 'select p.id, p.text from posts.post p where p.author_id = $1 limit $2';
  const one = statementName(page);
  t.match(one, /^agora_[0-9a-z]+$/, 'named');
  t.equal(statementName(page), one, 'the same text, the same name');
  t.equal(statementName(page.split(' ').join(' ')), one, 'an equal string built afresh, the same name');
  const other = statementName('select p.id from posts.post p where p.id = $1');
  t.ok(other !== undefined && other !== one, 'another text, another name');
  for (const all of ['select r.*, 1 as n from idempotency.record r where r.key = $1', 'select * from t where id = $1', 'update t set a = $1 returning *', 'SELECT  *\nFROM t WHERE id = $1']) {
    t.equal(statementName(all), undefined, `never named: ${JSON.stringify(all)}`);
  }
  t.match(statementName('select count(*)::int as n from t where id = $1'), /^agora_/, 'count(*) selects no column: named');
  for (const array of ['select k.id from unnest($1::uuid[]) as a(author_id) cross join lateral (select 1) k', 'select id from t where id = any($2::uuid[]) and n = $1', 'select 1 where $1::text[] is not null', 'select $3::timestamp with time zone[]']) {
    t.equal(statementName(array), undefined, `an array parameter, whose length a generic plan cannot know: never named: ${JSON.stringify(array)}`);
  }
});

t.test('a text whose prepared statement PostgreSQL refused as stale is not named again', async (t) => {
  const text = 'select a from stale_t where id = $1';
  t.ok(statementName(text), 'named at first');
  stopNaming(text);
  t.equal(statementName(text), undefined, 'then sent unnamed');
  t.ok(isStalePlan(Object.assign(new Error('cached plan must not change result type'), { code: '0A000' })), "PostgreSQL's refusal is recognized");
  t.notOk(isStalePlan(Object.assign(new Error('cached plan must not change result type'), { code: '42P01' })), 'by its code');
  t.notOk(isStalePlan(Object.assign(new Error('FOR UPDATE is not allowed with UNION'), { code: '0A000' })), 'and its message: not every 0A000');
  t.notOk(isStalePlan(undefined), 'nothing is not a refusal');
});

t.test('names stop at 500 distinct texts per process; texts named before keep theirs', async (t) => {
  const first = statementName('select 1 where $1::int = 1');
  for (let i = 0; i < 600; i++) statementName(`select ${i} where $1::int = ${i}`);
  t.equal(statementName('select 600 where $1::int = 600 and true'), undefined, 'a new text past the bound is sent unnamed');
  t.equal(statementName('select 1 where $1::int = 1'), first, 'a text named before keeps its name');
});

t.test('a connection is direct when PostgreSQL received it where the client sent it', async (t) => {
  t.ok(isDirect({ address: '127.0.0.1', port: 5432 }, { address: '127.0.0.1', port: 5432 }), 'the same address and port');
  t.ok(isDirect({ address: '::ffff:127.0.0.1', port: 5432 }, { address: '127.0.0.1', port: 5432 }), 'an IPv4-mapped address is its IPv4 address');
  t.ok(isDirect({ address: '::1', port: 5432 }, { address: '::1', port: 5432 }), 'IPv6');
  t.notOk(isDirect({ address: '127.0.0.1', port: 6432 }, { address: '127.0.0.1', port: 5432 }), 'a pooler on another port of the same host');
  t.notOk(isDirect({ address: '10.0.0.5', port: 5432 }, { address: '10.0.0.9', port: 5432 }), 'a pooler on another host, on the same port number');
  t.notOk(isDirect({ address: undefined, port: undefined }, { address: null, port: null }), 'a Unix socket: cannot be told from a pooler');
  t.notOk(isDirect({ address: '127.0.0.1', port: 5432 }, { address: null, port: null }), 'PostgreSQL received it on a Unix socket: a pooler in between');
});

t.test('namingFor: on and off need no connection; auto asks the database, and gives the connection back', async (t) => {
  const refuse = () => Promise.reject(new Error('no connection should be made'));
  t.same(await namingFor('on', refuse), { named: true, reason: 'DATABASE_NAMED_STATEMENTS=on' });
  t.same(await namingFor('off', refuse), { named: false, reason: 'DATABASE_NAMED_STATEMENTS=off' });

  const released: unknown[] = [];
  const client = (remote: { remoteAddress?: string; remotePort?: number }, answer: Record<string, unknown> | Error): ProbedClient => ({
    query: (_sql, callback) => void setImmediate(() => (answer instanceof Error ? callback(answer, { rows: [] }) : callback(null, { rows: [answer] }))),
    connection: { stream: remote },
    release: (error?: Error) => void released.push(error ?? 'released'),
  });
  const direct = await namingFor('auto', async () => client({ remoteAddress: '127.0.0.1', remotePort: 5432 }, { address: '127.0.0.1', port: 5432 }));
  t.equal(direct.named, true, 'direct: named');
  t.match(direct.reason, /straight to PostgreSQL \(127\.0\.0\.1:5432\)/);
  const pooled = await namingFor('auto', async () => client({ remoteAddress: '127.0.0.1', remotePort: 6432 }, { address: '127.0.0.1', port: 5432 }));
  t.equal(pooled.named, false, 'through a pooler: unnamed');
  t.equal(pooled.reason, 'PostgreSQL received the connection on 127.0.0.1:5432, not on 127.0.0.1:6432: a pooler or proxy may be in between');
  t.same(released, ['released', 'released'], 'each connection given back');
  const failure = new Error('connection terminated');
  await t.rejects(namingFor('auto', async () => client({}, failure)), failure, 'a failure to ask is thrown');
  t.equal(released.at(-1), failure, 'and the connection given back with it, to be closed');
});
