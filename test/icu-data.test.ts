// A server starts, runs its worker's schedules and answers without touching ICU's locale data: no
// `Intl` formatter or collator, no string compared by locale. The first of those builds V8's list
// of the locales ICU has data for, which leaves about 7 MB of Node's binary resident for the
// process's life (bench/README.md, "ICU's locale data"). Two dependencies did, at start: MikroORM
// sorts its entities with `localeCompare` (src/persistence/identifier-order.ts), and pg-boss's
// cron parser asked luxon, which asked `Intl.DateTimeFormat`, for the system's locale and zone
// (src/jobs/queue.ts). The server runs with a spy preloaded (test/helpers/intl-spy.ts).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startCluster } from './helpers/cluster.ts';
import { watchIntl } from './helpers/intl-spy.ts';

const SPY = fileURLToPath(new URL('./helpers/intl-spy.ts', import.meta.url));

t.test('the spy reports the first use of each kind, with its stack', async (t) => {
  const seen: [string, string][] = [];
  const stop = watchIntl((what, stack) => seen.push([what, stack]));
  try {
    t.equal('a'.localeCompare('b'), -1, 'the watched method still answers');
    'b'.localeCompare('a');
    t.ok(new Intl.DateTimeFormat('en-US') instanceof Intl.DateTimeFormat, 'the watched constructor still constructs');
    t.equal((1234).toLocaleString('en-US'), '1,234');
  } finally {
    stop();
  }
  t.same(
    seen.map(([what]) => what),
    ['String.prototype.localeCompare', 'Intl.DateTimeFormat', 'Number.prototype.toLocaleString'],
  );
  t.match(seen[0]![1], /icu-data\.test\.ts/, 'the stack names the caller');
  const uses = seen.length;
  'c'.localeCompare('d');
  t.equal(seen.length, uses, 'nothing is watched once stopped');
});

t.test('a server and its worker start, schedule their jobs and serve without ICU’s locale data', async (t) => {
  const cluster = await startCluster(t, 1, { NODE_OPTIONS: `--import=${SPY}`, AGORA_INTL_SPY: 'stdout' });
  const agora = cluster.instances[0]!;
  const handle = `icu_${randomBytes(4).toString('hex')}`;
  const password = 'correct horse battery staple';
  const account = await cluster.send(agora, 'POST', '/v1/accounts', { body: { email: `${handle}@example.com`, password, handle, displayName: 'Ünïcode Üser' } });
  t.equal(account.status, 201);
  const session = await cluster.send(agora, 'POST', '/v1/sessions', { body: { email: `${handle}@example.com`, password } });
  t.equal(session.status, 201);
  const headers = { authorization: `Bearer ${session.json.token}`, 'idempotency-key': randomBytes(8).toString('hex') };
  t.equal((await cluster.send(agora, 'POST', '/v1/posts', { headers, body: { text: 'Grüße, 世界' } })).status, 201);
  const page = await cluster.send(agora, 'GET', `/v1/accounts/${account.json.id}/posts`);
  t.equal(page.status, 200);
  t.equal(page.json.data[0].text, 'Grüße, 世界');
  t.equal((await cluster.send(agora, 'GET', '/v1/feed', { headers: { authorization: headers.authorization } })).status, 200);
  t.equal((await cluster.send(agora, 'GET', `/v1/posts/${account.json.id}`)).status, 404);

  // The spy was there to see, and the worker parsed its schedules' cron expressions.
  t.ok(agora.logs.some((line) => line.msg === 'intl spy watching'), 'the spy is preloaded');
  const schedules = await cluster.sql<{ name: string }>('select name from pgboss.schedule order by name');
  t.same(schedules.map((s) => s.name), ['purge-idempotency-keys', 'purge-sessions']);
  t.same(agora.logs.filter((line) => line.msg === 'intl'), [], 'no use of ICU locale data');
});
