import { spawnSync } from 'node:child_process';
import t from 'tap';
import { v7 as uuidv7 } from 'uuid';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { spec } from './helpers/contract.ts';
import { delta, has, total } from './helpers/metrics.ts';

const agora = await startAgora(t);

const OPERATION_IDS = Object.values(spec.paths as Record<string, Record<string, { operationId?: string }>>)
  .flatMap((item) => Object.values(item).map((op) => op?.operationId))
  .filter((id): id is string => typeof id === 'string');

const promtool = !spawnSync('promtool', ['--version']).error;

t.test('the counts add up to the good, bad and failing requests sent', async (t) => {
  const { account, token } = await agora.signUp();
  const before = await agora.scrape();

  const me = agora.client(token);
  for (let i = 0; i < 5; i++) {
    const res = await me.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
    t.equal(res.response.status, 200);
  }
  for (let i = 0; i < 3; i++) t.equal((await agora.raw('GET', '/v1/accounts?limit=0')).status, 400);
  for (let i = 0; i < 2; i++) t.equal((await agora.raw('GET', `/v1/accounts/${uuidv7()}`)).status, 404);
  for (let i = 0; i < 2; i++) t.equal((await agora.raw('GET', `/v1/nothing/here/${uuidv7()}`)).status, 404);
  await agora.sql('alter table accounts.account rename column bio to bio_moved');
  try {
    t.equal((await agora.raw('GET', `/v1/accounts/${account.id}`)).status, 500);
  } finally {
    await agora.sql('alter table accounts.account rename column bio_moved to bio');
  }

  const after = await agora.scrape();
  const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
  const requests = (operation: string, status_class: string) => d('agora_http_requests_total', { operation, method: 'GET', status_class });

  t.equal(requests('getAccount', '2xx'), 5, '5 good');
  t.equal(requests('listAccounts', '4xx'), 3, '3 invalid');
  t.equal(requests('getAccount', '4xx'), 2, '2 not found');
  t.equal(requests('unmatched', '4xx'), 2, '2 unmatched paths, under one label');
  t.equal(requests('getAccount', '5xx'), 1, '1 failure');
  t.equal(d('agora_http_requests_total'), 13, 'nothing else was counted');

  t.equal(d('agora_http_request_duration_seconds_count', { operation: 'getAccount' }), 8, 'one latency observation per getAccount request');
  t.equal(d('agora_http_request_duration_seconds_bucket', { operation: 'getAccount', le: '+Inf' }), 8);
  t.equal(d('agora_http_request_duration_seconds_count'), 13);
  t.equal(d('agora_http_error_responses_total', { operation: 'listAccounts', status: '400', type: 'validation-error' }), 3);
  t.equal(d('agora_http_error_responses_total', { operation: 'getAccount', status: '404', type: 'not-found' }), 2);
  t.equal(d('agora_http_error_responses_total', { operation: 'unmatched', status: '404', type: 'not-found' }), 2);
  t.equal(d('agora_http_error_responses_total', { operation: 'getAccount', status: '500', type: 'internal-error' }), 1);
  t.equal(d('agora_http_error_responses_total'), 8, '3 + 2 + 2 + 1 problem responses');
  t.equal(d('agora_http_unexpected_errors_total', { operation: 'getAccount' }), 1);
  t.equal(d('agora_http_unexpected_errors_total'), 1);
  t.equal(total(after, 'agora_http_requests_in_flight'), 0);

  t.ok(d('agora_db_queries_total', { operation: 'select', outcome: 'ok' }) >= 5, 'the reads are counted');
  t.equal(d('agora_db_queries_total', { operation: 'select', outcome: 'error' }), 1, 'the failed select');
  t.equal(d('agora_db_query_duration_seconds_count', { operation: 'select' }), d('agora_db_queries_total', { operation: 'select' }), 'one latency observation per select');
});

t.test('latency buckets resolve 1 ms to 10 s', async (t) => {
  const scrape = await agora.scrape();
  const les = scrape.samples
    .filter((s) => s.name === 'agora_http_request_duration_seconds_bucket' && s.labels.operation === 'createAccount')
    .map((s) => s.labels.le);
  t.same(les, ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
});

t.test('database pool, health and the process', async (t) => {
  const scrape = await agora.scrape();
  t.equal(total(scrape, 'agora_db_pool_max_connections'), 5, 'the pool size the server was given');
  t.ok(total(scrape, 'agora_db_pool_connections') >= 1, 'connections open');
  t.ok(has(scrape, 'agora_db_pool_connections', { state: 'in_use' }) && has(scrape, 'agora_db_pool_connections', { state: 'idle' }));
  t.equal(total(scrape, 'agora_db_pool_waiting_queries'), 0);
  t.equal(total(scrape, 'agora_db_up'), 1);
  t.ok(total(scrape, 'process_resident_memory_bytes') > 0, 'memory in use');
  t.ok(total(scrape, 'nodejs_heap_size_used_bytes') > 0);
  t.ok(total(scrape, 'agora_memory_available_bytes') > 0, 'memory still free');
  t.ok(total(scrape, 'agora_memory_heap_limit_bytes') > total(scrape, 'nodejs_heap_size_used_bytes'));
  t.ok(total(scrape, 'process_cpu_seconds_total') > 0, 'CPU');
  t.ok(has(scrape, 'nodejs_eventloop_lag_p99_seconds'), 'event-loop lag');
  t.equal(scrape.types.get('nodejs_gc_duration_seconds'), 'histogram', 'GC');
  t.ok(total(scrape, 'nodejs_gc_duration_seconds_count', { kind: 'minor' }) > 0, "the server's scavenges since it started, counted");
});

t.test("each cache's contents: its entries, and the weight of those bounded by it", async (t) => {
  const { client } = await agora.signUp();
  const post = await unwrap(client.POST('/posts', { body: { text: 'kept' } }));
  await unwrap(client.GET('/posts/{postId}', { params: { path: { postId: post.id } } }));
  const scrape = await agora.scrape();
  const caches = ['sessions', 'account_summaries', 'channels', 'idempotency_replays', 'feed_pages', 'posts', 'channel_pages'];
  for (const cache of caches) t.ok(has(scrape, 'agora_cache_entries', { cache }), `${cache}: entries`);
  t.same(
    scrape.samples.filter((s) => s.name === 'agora_cache_weight_bytes').map((s) => s.labels.cache).sort(),
    ['channel_pages', 'channels', 'feed_pages', 'idempotency_replays', 'posts'],
    'a weight for the caches bounded by weight, and only for them',
  );
  t.ok(total(scrape, 'agora_cache_entries', { cache: 'posts' }) >= 1, 'the post read is kept');
  t.ok(total(scrape, 'agora_cache_weight_bytes', { cache: 'posts' }) >= 700, 'and weighs at least what a kept post is estimated at (700 bytes and its text)');
});

t.test('labels are bounded: operations and templates, never raw paths or ids', async (t) => {
  await agora.raw('GET', `/v1/accounts/${uuidv7()}?limit=${uuidv7()}`);
  await agora.raw('GET', `/${uuidv7()}/${'x'.repeat(100)}`);
  const scrape = await agora.scrape();
  const known = new Set([...OPERATION_IDS, 'unmatched']);
  const operations = new Set<string>();
  for (const sample of scrape.samples.filter((s) => s.name.startsWith('agora_'))) {
    for (const [label, value] of Object.entries(sample.labels)) {
      if (/[0-9a-f]{8}-[0-9a-f]{4}-/.test(value)) t.fail(`${sample.name}{${label}="${value}"} holds an id`);
      if (label === 'operation' && sample.name.startsWith('agora_http_')) operations.add(value);
    }
  }
  for (const operation of operations) {
    t.ok(known.has(operation) || /^\/[a-z/.:*-]*$/.test(operation), `operation="${operation}" is an operationId or a route template`);
  }
});

t.test('every operation starts at zero, idempotent replays included', async (t) => {
  const scrape = await agora.scrape();
  for (const operation of OPERATION_IDS) t.ok(has(scrape, 'agora_http_unexpected_errors_total', { operation }), operation);
  const replays = scrape.samples.filter((s) => s.name === 'agora_idempotent_replays_total');
  const posts = Object.values(spec.paths as Record<string, { post?: { operationId: string } }>)
    .flatMap((item) => (item.post ? [item.post.operationId] : []))
    .sort();
  t.same(replays.map((s) => s.labels.operation).sort(), posts, 'one series per POST operation');
});

t.test("every cache's lookups start at zero, one series per outcome, for each cache the instance has", async (t) => {
  const scrape = await agora.scrape();
  const watched = scrape.samples.filter((s) => s.name === 'agora_cache_entries').map((s) => s.labels.cache!).sort();
  t.same(watched, ['account_summaries', 'channel_pages', 'channels', 'feed_pages', 'friendships', 'idempotency_replays', 'participants', 'posts', 'sessions']);
  for (const cache of watched) {
    for (const outcome of ['hit', 'miss', 'bypassed']) t.ok(has(scrape, 'agora_cache_lookups_total', { cache, outcome }), `${cache} ${outcome}`);
  }
  t.same(
    [...new Set(scrape.samples.filter((s) => s.name === 'agora_cache_lookups_total').map((s) => s.labels.cache!))].sort(),
    watched,
    'and for no other',
  );
});

t.test('an idempotent replay is counted', async (t) => {
  const before = await agora.scrape();
  const send = () =>
    agora.raw('POST', '/v1/accounts', {
      headers: { 'content-type': 'application/json', 'idempotency-key': 'replayed-signup-1' },
      body: JSON.stringify({ email: 'replayed@example.com', password: 'a password of some length', handle: 'replayed_one', displayName: 'Replayed' }),
    });
  const first = await send();
  const second = await send();
  t.equal(first.status, 201);
  t.equal(second.status, 201);
  t.equal(second.headers.get('idempotent-replayed'), 'true');
  const after = await agora.scrape();
  t.equal(delta(before, after, 'agora_idempotent_replays_total', { operation: 'createAccount' }), 1);
  t.equal(delta(before, after, 'agora_idempotent_replays_total'), 1);
});

t.test('/metrics is served on its own port, not on the API', async (t) => {
  const onApi = await agora.raw('GET', '/metrics');
  t.equal(onApi.status, 404);
  const res = await fetch(agora.metricsUrl!);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  t.equal((await fetch(new URL('/other', agora.metricsUrl))).status, 404);
});

t.test('our metrics pass promtool check metrics', { skip: !promtool && 'promtool is not installed (.ci/run installs Debian\'s prometheus)' }, async (t) => {
  const { text } = await agora.scrape();
  // prom-client's default process metrics predate promtool's naming lint (gauges named *_total).
  const ours = text.split('\n').filter((line) => /^(?:# (?:HELP|TYPE) )?agora_/.test(line)).join('\n') + '\n';
  t.ok(ours.length > 1000);
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: ours, encoding: 'utf8', timeout: 30_000 });
  t.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
});

t.test('rate-limited requests are counted', async (t) => {
  const limited = await startAgora(t, { RATE_LIMIT_PER_MINUTE: '3' });
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await limited.raw('GET', '/v1/accounts')).status);
  t.same(statuses, [200, 200, 200, 429, 429]);
  const scrape = await limited.scrape();
  t.equal(total(scrape, 'agora_http_rate_limited_total', { operation: 'listAccounts' }), 2);
  t.equal(total(scrape, 'agora_http_error_responses_total', { operation: 'listAccounts', status: '429', type: 'rate-limited' }), 2);
});

t.test('METRICS_PORT=off turns the endpoint off', async (t) => {
  const quiet = await startAgora(t, { METRICS_PORT: 'off' });
  t.equal(quiet.metricsUrl, undefined);
});
