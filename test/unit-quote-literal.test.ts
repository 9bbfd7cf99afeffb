// quoteLiteral (src/persistence/sql.ts) writes a string literal exactly as pg's escapeLiteral
// does, for the statements a unit of work sends with their parameters written in.
import pg from 'pg';
import t from 'tap';
import { inlined, quoteLiteral } from '../src/persistence/sql.ts';

t.test("quoteLiteral writes what pg's escapeLiteral writes", async (t) => {
  const cases = ['', 'plain', "it's", "''", '\\', 'a\\b', "back\\slash and 'quote'", 'Ελληνικά', '😀 emoji', "'\\'\\", 'line\nbreak\ttab', ' E\'x\'', '$1 -- /* */'];
  for (const text of cases) t.equal(quoteLiteral(text), pg.escapeLiteral(text), JSON.stringify(text));
  // Random strings over an alphabet heavy in quotes and backslashes.
  const alphabet = ["'", '\\', 'a', ' ', 'é', '"', '$', '\n', 'E'];
  for (let i = 0; i < 2000; i++) {
    const text = Array.from({ length: Math.floor(Math.random() * 40) }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
    if (quoteLiteral(text) !== pg.escapeLiteral(text)) t.fail(`differs for ${JSON.stringify(text)}`);
  }
  t.equal(inlined({ sql: 'select $1, $2', params: ["o'k", new Date('2026-12-05T00:00:00.000Z')] }), "select 'o''k', '2026-12-05T00:00:00.000Z'", 'and inlined writes its strings and times so');
});

t.test('quoteLiteral copies a long text in one piece, not a string a character', async (t) => {
  // pg's escapeLiteral adds one character at a time: for a text of 20,000 characters, its result
  // is a chain of about 20,000 strings until something flattens it. V8's %FlattenString is not
  // reachable here; the size of what stays reachable is. Measured as the heap a thousand results
  // hold, against the texts' own size.
  const text = 'x'.repeat(20_000) + "'" + 'y'.repeat(20_000);
  const held = (quote: (s: string) => string) => {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const results = Array.from({ length: 50 }, (_, i) => quote(text + String(i)));
    const after = process.memoryUsage().heapUsed;
    t.equal(results.length, 50);
    return (after - before) / 50;
  };
  const ours = held(quoteLiteral);
  const theirs = held((s) => pg.escapeLiteral(s));
  t.ok(ours < text.length * 2.5, `ours holds ${Math.round(ours)} bytes a literal of ${text.length + 3} characters`);
  t.ok(ours * 5 < theirs, `pg's holds ${Math.round(theirs)} bytes: at least five times ours`);
});

t.test('inlined writes each parameter where its $n was, whatever the text, and again with other parameters', async (t) => {
  // What inlined wrote before it kept each text's template: a replace over the text each time.
  const reference = (sql: string, params: readonly unknown[]) =>
    sql.replace(/\$(\d+)/g, (_, n: string) => {
      const value = params[Number(n) - 1];
      return value === null ? 'null' : typeof value === 'number' ? `'${value}'` : quoteLiteral(String(value));
    });
  const pieces = ['select ', '$1', '$2', '$10', ', ', "'$3'", '$$', '$', 'x', '::int', ' -- $2\n', '$02'];
  for (let i = 0; i < 500; i++) {
    const sql = Array.from({ length: 1 + Math.floor(Math.random() * 12) }, () => pieces[Math.floor(Math.random() * pieces.length)]).join('');
    for (let round = 0; round < 2; round++) {
      const params = Array.from({ length: 10 }, (_, k) => (k % 3 === 0 ? null : k % 3 === 1 ? `p${k}'${round}` : k * 10 + round));
      if (inlined({ sql, params }) !== reference(sql, params)) t.fail(`differs for ${JSON.stringify(sql)}, round ${round}`);
    }
  }
  t.equal(inlined({ sql: 'select $1, $10', params: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] }), "select 'a', 'j'", '$10 is the tenth, not the first and a zero');
  t.equal(inlined({ sql: 'select 1', params: [] }), 'select 1');
  t.throws(() => inlined({ sql: 'select $1, $3', params: [1, 2] }), /no parameter \$3/);
  t.throws(() => inlined({ sql: 'select $0', params: [1] }), /no parameter \$0/);
  t.equal(inlined({ sql: 'select $1, $3', params: [1, 2, 3] }), "select '1', '3'", 'the same text, with enough parameters this time');
});
