// A database that stops answering without closing anything (a stopped PostgreSQL, a frozen VM):
// every statement has a client-side deadline (DATABASE_QUERY_TIMEOUT_MS), an outage refuses
// requests at once and is logged once, and service resumes as soon as the database does. The
// stall is a proxy's (test/helpers/tcp-proxy.ts), never the shared test PostgreSQL's.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { startAgora, type Agora } from './helpers/agora.ts';
import { eventually } from './helpers/locks.ts';
import { total } from './helpers/metrics.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

const DEADLINE_MS = 1000;
/** What a busy machine may add to a deadline before the answer is out. */
const SLACK_MS = 1000;

async function stallable(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<{ agora: Agora; proxy: TcpProxy }> {
  const target = new URL(process.env.AGORA_TEST_ADMIN_URL!);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  t.teardown(() => proxy.close());
  const agora = await startAgora(
    t,
    // The periodic check is far away: what happens here is the deadline's and the outage probes' doing.
    { DATABASE_QUERY_TIMEOUT_MS: String(DEADLINE_MS), DATABASE_CONNECT_TIMEOUT_MS: String(DEADLINE_MS), HEALTH_CHECK_INTERVAL_MS: '600000', RETRY_AFTER_SECONDS: '3', ...env },
    { routeDatabase: (url) => Object.assign(new URL(url), { port: String(proxy.port) }).toString() },
  );
  return { agora, proxy };
}

const probe = async (origin: string) => {
  const response = await fetch(`${origin}/readyz`);
  return { status: response.status, body: (await response.json()) as any };
};

t.test('a stalled database: 503 with Retry-After within the deadline, refused at once meanwhile, service back within a second', async (t) => {
  const { agora, proxy } = await stallable(t);
  const { account } = await agora.signUp();
  const read = () => agora.raw('GET', `/v1/accounts/${account.id}`);
  t.equal((await read()).status, 200);

  proxy.stall();
  // Without a deadline the request would wait for the database: end the stall at some point
  // rather than never (the timings below then fail).
  const safety = setTimeout(() => proxy.resume(), 15_000);
  t.teardown(() => clearTimeout(safety));
  const stalledAt = Date.now();
  const first = await read();
  const took = Date.now() - stalledAt;
  t.equal(first.status, 503);
  t.equal(first.json.type, 'urn:agora:problem:service-unavailable');
  t.equal(first.headers.get('retry-after'), '3');
  t.ok(took >= DEADLINE_MS - 50 && took < DEADLINE_MS + SLACK_MS, `answered after ${took} ms, at the ${DEADLINE_MS} ms deadline`);

  // A probe confirms the outage: from then on requests are refused without trying the database.
  const notReady = await eventually('/readyz to report the outage', async () => {
    const r = await probe(agora.origin);
    return r.status === 503 ? r : undefined;
  });
  t.same(notReady.body, { status: 'not-ready', checks: { database: 'unreachable', migrations: 'unknown', load: 'shedding' } });
  const before = await agora.scrape();
  t.equal(total(before, 'agora_db_up'), 0);
  const refusedAt = Date.now();
  const refused = await read();
  t.equal(refused.status, 503);
  t.match(refused.json.detail, /database is unreachable/);
  t.equal(refused.headers.get('retry-after'), '3');
  t.ok(Date.now() - refusedAt < 500, `refused at once (${Date.now() - refusedAt} ms)`);
  const scrape = await agora.scrape();
  t.equal(
    total(scrape, 'agora_http_load_shed_total', { reason: 'databaseUnavailable' }) - total(before, 'agora_http_load_shed_total', { reason: 'databaseUnavailable' }),
    1,
    'the refusal is counted',
  );

  // Still stalled after several probes have timed out: still refused at once.
  await eventually('three deadlines to pass', () => (Date.now() - stalledAt > 3 * DEADLINE_MS ? true : undefined));
  t.equal((await read()).status, 503);

  proxy.resume();
  const resumedAt = Date.now();
  await eventually('a request to succeed', async () => ((await read()).status === 200 ? true : undefined));
  const back = Date.now() - resumedAt;
  // Probed every 200 ms during an outage: back within a second alone (without the probes it
  // would be the next periodic check, 10 minutes away here); a busy machine may add SLACK_MS.
  t.ok(back < 1000 + SLACK_MS, `served again ${back} ms after the database returned`);
  t.equal(total(await agora.scrape(), 'agora_db_up'), 1);
  t.equal((await probe(agora.origin)).status, 200);

  // The outage is logged twice, at warn; the refused requests only by their own lines, at info.
  const outageLines = agora.logs.filter((l) => /the database is unavailable|the database answers again/.test(l.msg));
  t.same(outageLines.map((l) => [l.level, l.msg.split(':')[0]]), [
    [40, 'the database is unavailable'],
    [40, 'the database answers again'],
  ]);
  t.ok(outageLines[0]?.err, 'the outage start says why');
  t.same(agora.logs.filter((l) => l.level >= 50), [], 'nothing at error');
  const refusals = agora.logs.filter((l) => l.msg === 'request completed' && l.status === 503 && l.path.startsWith('/v1/'));
  t.ok(refusals.length >= 3);
  t.same(refusals.filter((l) => l.level !== 30 || l.problem !== 'service-unavailable'), [], 'each at info, with its problem');
});

async function signedIn(agora: Agora) {
  const { token } = await agora.signUp();
  return (text: string, key: string) =>
    agora.raw('POST', '/v1/posts', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
      body: JSON.stringify({ text }),
    });
}

/** Waits until no connection of the pool is lent out: a dead transaction's is not leaked. */
async function poolReturned(agora: Agora) {
  return eventually('the pool to have no connection in use', async () =>
    total(await agora.scrape(), 'agora_db_pool_connections', { state: 'in_use' }) === 0 ? true : undefined,
  );
}

/** Retries `send` through the outage and the key's release, as a client would. */
async function retried(send: () => ReturnType<Agora['raw']>) {
  return eventually('the retry to be served', async () => {
    const r = await send();
    return r.status === 503 || r.json?.type === 'urn:agora:problem:idempotency-in-flight' ? undefined : r;
  });
}

t.test('a deadline inside a keyed request\'s transaction rolls it back: the retry creates the post once', async (t) => {
  const { agora, proxy } = await stallable(t);
  const post = await signedIn(agora);
  const text = `stalled before insert ${randomUUID()}`;
  const key = randomUUID();
  const stalled = proxy.stallOn('insert into posts.post', 'before');
  const first = await post(text, key);
  await stalled;
  t.equal(first.status, 503, 'the insert never reached the database');
  t.equal(first.headers.get('retry-after'), '3');
  proxy.resume();

  const again = await retried(() => post(text, key));
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), null, 'run afresh: nothing of the first attempt was kept');
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n, 1);
  t.equal((await agora.sql('select count(*)::int as n from idempotency.record where key = $1', [key]))[0]!.n, 1);
  t.ok(await poolReturned(agora));
});

t.test('a deadline on COMMIT leaves the outcome unknown: the retry replays what was committed', async (t) => {
  const { agora, proxy } = await stallable(t);
  const post = await signedIn(agora);
  const text = `answer held ${randomUUID()}`;
  const key = randomUUID();
  // The statement text, as the wire carries it (NUL-terminated).
  const stalled = proxy.stallOn('commit\0', 'after');
  const first = await post(text, key);
  await stalled;
  t.equal(first.status, 503, 'the answer to COMMIT never came');
  proxy.resume();

  const again = await retried(() => post(text, key));
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), 'true', 'the committed response, replayed');
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n, 1);
  t.ok(await poolReturned(agora));
});
