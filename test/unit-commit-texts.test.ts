// commitTexts (src/persistence/sql.ts): the texts of the statements sent with a COMMIT. A statement
// marked `reused` is run by name (`EXECUTE`) on a direct connection, its PREPARE going first until
// a batch that prepared it commits (test/named-statements.test.ts runs them on PostgreSQL).
import t from 'tap';
import { commitTexts, inlined } from '../src/persistence/sql.ts';
import type { PoolClient } from '../src/persistence/orm.ts';

const insert = { sql: 'insert into t (a, b) select $1::text, $2::int  ;\n', params: ["it's", 3] };
const reused = { ...insert, reused: true };
const connection = () => ({}) as PoolClient;

t.test('without a direct connection, or unmarked, a statement is written in whole', async (t) => {
  t.same(commitTexts([reused], undefined), { texts: [inlined(reused)], preparing: [] }, 'no connection known to be direct');
  t.same(commitTexts([insert], connection()), { texts: [inlined(insert)], preparing: [] }, 'not marked reused');
});

t.test('a reused statement is prepared once in a batch and executed by name, its parameters written in', async (t) => {
  const { texts, preparing } = commitTexts([reused, { sql: 'select 1' }, { ...reused, params: ['two', 4] }], connection());
  t.equal(preparing.length, 1, 'one name prepared');
  const name = preparing[0]!;
  t.match(name, /^agora_reused_[0-9a-z]+$/);
  t.same(
    texts,
    [`prepare ${name} as insert into t (a, b) select $1::text, $2::int`, `execute ${name}('it''s', '3')`, 'select 1', `execute ${name}('two', '4')`],
    'its PREPARE (the trailing semicolon cut) before its first EXECUTE only',
  );
  t.same(commitTexts([reused], connection()).preparing, [name], 'the same text has the same name on another connection');
});

t.test('a parameter the statement takes must be given, and be one that can be written in', async (t) => {
  t.throws(() => commitTexts([{ ...reused, params: ['only one'] }], connection()), /no parameter \$2/);
  t.throws(() => commitTexts([{ ...reused, params: [[1], 2] }], connection()), /cannot inline/);
  const none = { sql: 'insert into t (a) values (now())', reused: true };
  const { texts, preparing } = commitTexts([none], connection());
  t.same(texts, [`prepare ${preparing[0]} as ${none.sql}`, `execute ${preparing[0]}`], 'a statement without parameters is executed without a list');
});
