// Domains own their data: one PostgreSQL schema each, no foreign key from one schema into
// another, and no persistence module that writes SQL against another domain's schema.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgora } from './helpers/agora.ts';

const DOMAINS = ['accounts', 'social', 'channels', 'posts', 'messages'];
const agora = await startAgora(t);

t.test('each domain has its own schema', async (t) => {
  const rows = await agora.sql(
    `select table_schema, array_agg(table_name::text order by table_name) as tables
       from information_schema.tables
      where table_schema = any($1) group by table_schema order by table_schema`,
    [DOMAINS],
  );
  t.same(Object.fromEntries(rows.map((r) => [r.table_schema, r.tables])), {
    accounts: ['account', 'session'],
    channels: ['channel', 'membership'],
    messages: ['conversation', 'message', 'participant'],
    posts: ['post'],
    social: ['friend_request', 'friendship'],
  });
});

t.test('no foreign key crosses a schema', async (t) => {
  const crossing = await agora.sql(
    `select conname, src.nspname as from_schema, dst.nspname as to_schema
       from pg_constraint c
       join pg_class sc on sc.oid = c.conrelid join pg_namespace src on src.oid = sc.relnamespace
       join pg_class dc on dc.oid = c.confrelid join pg_namespace dst on dst.oid = dc.relnamespace
      where c.contype = 'f' and src.nspname <> dst.nspname`,
  );
  t.same(crossing, []);
});

t.test("no persistence module names another domain's schema in its SQL", async (t) => {
  const root = new URL('../src/persistence/', import.meta.url).pathname;
  for (const domain of DOMAINS) {
    const others = DOMAINS.filter((d) => d !== domain);
    const pattern = new RegExp(`\\b(?:${others.join('|')})\\.(?:${['account', 'session', 'friend_request', 'friendship', 'channel', 'membership', 'post', 'conversation', 'participant', 'message'].join('|')})\\b`);
    for (const file of readdirSync(join(root, domain))) {
      const source = readFileSync(join(root, domain, file), 'utf8');
      t.notOk(pattern.test(source), `${domain}/${file} stays in schema ${domain}`);
      t.notMatch(source, new RegExp(`schema: '(?:${others.join('|')})'`), `${domain}/${file} declares only ${domain} entities`);
    }
  }
});
