// Three server processes started at the same moment on one empty database all come up (they
// take turns at migrating it). Then the two correctness promises under load, across them:
// a creating call retried in a storm (with dropped connections) creates once; concurrent
// updates through different instances lose nothing; a key reused for another request creates
// nothing; and an instance killed mid-request neither duplicates nor strands a key. Also the
// caches' promise: a sign-out, a rename or a channel change is in effect on every instance once
// the staleness bound (CACHE_MAX_STALENESS_MS) has passed, even on one whose invalidations stall.
// Every loop here is bounded in count and in time.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import pg from 'pg';
import { createAgoraClient, unwrap, type Account } from 'agora-sdk';
import { startCluster, type Cluster, type Instance } from './helpers/cluster.ts';
import { total, type Scrape } from './helpers/metrics.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

// Three server processes, a storm of argon2 sign-ups and the waits for the staleness bound: on a
// busy two-core machine this file needs more than the suite's default of 120 s.
t.setTimeout(600_000);

const PASSWORD = 'correct horse battery staple';
// The staleness bound the instances run with (CACHE_MAX_STALENESS_MS): how long a change made
// on one instance may go unseen by the caches of another.
const BOUND_MS = 1000;
// Started together on an empty database: startCluster fails if any of them dies at start-up.
const cluster = await startCluster(t, 3, { CACHE_MAX_STALENESS_MS: String(BOUND_MS) }, { emptyDatabase: true });
const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
const run = randomUUID().slice(0, 6);

t.test('three instances started together on an empty database: all serve, one migrates, each migration runs once', async (t) => {
  const applied = await cluster.sql<{ name: string; n: number }>('select name, count(*)::int as n from public.mikro_orm_migrations group by name order by name');
  t.ok(applied.length > 0, 'the database was migrated');
  t.ok(applied.every((m) => m.n === 1), 'each migration is recorded once');
  const migrators = cluster.instances.filter((i) => i.logs.some((l) => l.msg === 'applied migrations'));
  t.equal(migrators.length, 1, 'one instance applied the migrations; the others found nothing to do');
  t.same(migrators[0]!.logs.find((l) => l.msg === 'applied migrations')!.migrations, applied.map((m) => m.name));
  t.same(cluster.instances.flatMap((i) => i.logs).filter((l) => l.level >= 50), [], 'no errors logged');
  for (const instance of cluster.instances) {
    // Outside the contract: plain fetch.
    const ready = await fetch(`${instance.origin}/readyz`);
    t.equal(ready.status, 200, `${instance.name} is ready`);
    await ready.body?.cancel();
  }
});

function newAccount(label: string) {
  const handle = `${label}_${run}`.slice(0, 30);
  return { email: `${handle.toLowerCase()}@example.com`, password: PASSWORD, handle, displayName: `User ${label}` };
}

function client(instance: Instance, token?: string) {
  return createAgoraClient({ baseUrl: instance.baseUrl, token, fetch: cluster.checkingFetch, retry: { attempts: 20, baseDelayMs: 50, maxElapsedMs: 20_000 } });
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function withConcurrency<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

async function advisoryLocksHeld(): Promise<number> {
  const [row] = await cluster.sql<{ n: number }>(
    `select count(*)::int as n from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
  );
  return row!.n;
}

/**
 * Holds a lock that stops every insert into accounts.account until released: requests then
 * wait mid-transaction, after taking their key.
 */
async function blockSignUps(t: { teardown(fn: () => unknown): void }) {
  const blocker = new pg.Client({ connectionString: cluster.databaseUrl });
  blocker.on('error', () => {});
  await blocker.connect();
  await blocker.query('begin');
  await blocker.query('lock table accounts.account in share mode');
  let held = true;
  const release = async () => {
    if (!held) return;
    held = false;
    await blocker.query('commit');
    await blocker.end();
  };
  t.teardown(release);
  return release;
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
async function eventually(what: string, timeoutMs: number, condition: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

t.test('retry storm: 200 creations, each sent 5 times at once over 3 instances, some dropped mid-request', async (t) => {
  const LOGICAL = 200;
  const SENDS = 5;
  const creations = Array.from({ length: LOGICAL }, (_, i) => ({ key: randomUUID(), body: newAccount(`storm${i}`) }));
  type Seen = { kind: 'original' | 'replay' | 'in-flight' | 'aborted' | 'unexpected'; id?: string; detail?: string };
  const seen = new Map<string, Seen[]>(creations.map((c) => [c.key, []]));

  const started = Date.now();
  await withConcurrency(creations, 40, async ({ key, body }, i) => {
    await Promise.all(
      Array.from({ length: SENDS }, async (_, j) => {
        const instance = cluster.instances[(i + j) % 3]!;
        // One send in four of every other creation hangs up after 0–80 ms: mid-request, as a
        // client that times out would.
        const controller = new AbortController();
        if (i % 2 === 0 && j % 4 === 0) setTimeout(() => controller.abort(), Math.random() * 80);
        let outcome: Seen;
        try {
          const res = await cluster.send(instance, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body, signal: controller.signal });
          if (res.status === 201) {
            outcome = { kind: res.headers.get('idempotent-replayed') === 'true' ? 'replay' : 'original', id: res.json.id };
          } else if (res.status === 409 && res.json.type === 'urn:agora:problem:idempotency-in-flight' && res.headers.get('retry-after') === '1') {
            outcome = { kind: 'in-flight' };
          } else {
            outcome = { kind: 'unexpected', detail: `${res.status} ${res.text.slice(0, 200)}` };
          }
        } catch (error) {
          outcome = controller.signal.aborted ? { kind: 'aborted' } : { kind: 'unexpected', detail: String(error) };
        }
        seen.get(key)!.push(outcome);
      }),
    );
  });
  const stormMs = Date.now() - started;

  // Every client eventually hears the answer: one more (SDK) retry per key settles it.
  await withConcurrency(creations, 20, async ({ key, body }, i) => {
    const { data, response } = await client(cluster.instances[i % 3]!).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
    // A replay, or the original when every storm send for the key was dropped before it ran.
    const kind = response.headers.get('idempotent-replayed') === 'true' ? 'replay' : 'original';
    seen.get(key)!.push(response.status === 201 ? { kind, id: data!.id } : { kind: 'unexpected', detail: `settle: ${response.status}` });
  });

  const all = [...seen.values()].flat();
  const unexpected = all.filter((s) => s.kind === 'unexpected');
  t.same(unexpected, [], 'every answer is the original, a replay, or 409 in flight');
  const tally = Object.fromEntries(['original', 'replay', 'in-flight', 'aborted'].map((k) => [k, all.filter((s) => s.kind === k).length]));
  t.comment(`storm of ${LOGICAL * SENDS} requests in ${stormMs} ms: ${JSON.stringify(tally)}`);
  t.ok(tally.replay! > 0 && tally['in-flight']! > 0 && tally.aborted! > 0, 'the storm did replay, meet keys in flight, and drop connections');

  let consistent = 0;
  for (const [, outcomes] of seen) {
    const ids = new Set(outcomes.filter((o) => o.id).map((o) => o.id));
    const originals = outcomes.filter((o) => o.kind === 'original').length;
    if (ids.size === 1 && originals <= 1) consistent++;
  }
  t.equal(consistent, LOGICAL, 'for each key, every 201 carries the same account, and at most one was not a replay');

  const [{ accounts }] = (await cluster.sql(`select count(*)::int as accounts from accounts.account where handle like $1`, [`storm%_${run}`])) as [{ accounts: number }];
  t.equal(accounts, LOGICAL, 'exactly 200 accounts exist');
  const [{ records }] = (await cluster.sql(`select count(*)::int as records from idempotency.record where key = any($1)`, [creations.map((c) => c.key)])) as [{ records: number }];
  t.equal(records, LOGICAL, 'one record per key');
  t.equal(await advisoryLocksHeld(), 0, 'no key is left locked');

  const logged = cluster.instances.flatMap((i) => i.logs).filter((l) => l.msg === 'request completed' && l.idempotencyKey === creations[0]!.key);
  t.ok(logged.length >= 1, 'the key is in the request log lines');
});

/**
 * Clients update one resource concurrently through different instances, each re-reading and
 * retrying on 412 until its own change is in. Written over `read`/`update` so that the same
 * race can run on another versioned resource (posts) by swapping the two functions.
 */
async function updateRace(
  clients: number,
  read: (client: number) => Promise<{ version: number }>,
  update: (client: number, version: number, marker: string) => Promise<{ status: number; version?: number; marker?: string }>,
) {
  const successes: { client: number; version: number; marker: string }[] = [];
  let preconditionFailures = 0;
  const deadline = Date.now() + 40_000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const marker = `marker-${client}`;
      for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
        const { version } = await read(client);
        const result = await update(client, version, marker);
        if (result.status === 200) {
          successes.push({ client, version: result.version!, marker: result.marker! });
          return;
        }
        if (result.status !== 412) throw new Error(`client ${client}: unexpected ${result.status}`);
        preconditionFailures++;
      }
      throw new Error(`client ${client} gave up`);
    }),
  );
  return { successes, preconditionFailures };
}

t.test('update race: 20 clients update one post through 3 instances; no update is lost', async (t) => {
  const CLIENTS = 20;
  const owner = newAccount('racer');
  const account = await unwrap(client(a).POST('/accounts', { body: owner }));
  // Each client has its own session, signed in on its own instance.
  const tokens = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => (await unwrap(client(cluster.instances[i % 3]!).POST('/sessions', { body: { email: owner.email, password: PASSWORD } }))).token),
  );
  const instanceOf = (i: number) => cluster.instances[i % 3]!;
  const auth = (i: number) => ({ authorization: `Bearer ${tokens[i]}` });
  const created = await cluster.send(a, 'POST', '/v1/posts', { headers: auth(0), body: { text: 'the original text' } });
  t.equal(created.status, 201);
  const post = created.json as { id: string; version: number; text: string };

  const { successes, preconditionFailures } = await updateRace(
    CLIENTS,
    async (i) => (await cluster.send(instanceOf(i + 1), 'GET', `/v1/posts/${post.id}`, { headers: auth(i) })).json as { version: number },
    async (i, version, marker) => {
      const res = await cluster.send(instanceOf(i), 'PATCH', `/v1/posts/${post.id}`, { headers: { ...auth(i), 'if-match': `"${version}"` }, body: { text: marker } });
      if (res.status === 412) t.equal(res.json.currentVersion > version, true, '412 carries a newer current version');
      return { status: res.status, version: res.json?.version, marker: res.json?.text };
    },
  );
  t.comment(`${successes.length} updates, ${preconditionFailures} stale attempts retried`);

  t.equal(successes.length, CLIENTS, 'every client got its update in');
  const final = (await cluster.send(c, 'GET', `/v1/posts/${post.id}`, { headers: auth(0) })).json as { version: number; text: string };
  t.equal(final.version, successes.length, 'the final version is the number of successful updates');
  t.same(
    successes.map((s) => s.version).sort((x, y) => x - y),
    Array.from({ length: CLIENTS }, (_, i) => i + 1),
    'each successful update made its own version, 1 to 20: none overwrote another unseen',
  );
  t.ok(successes.every((s) => s.marker === `marker-${s.client}`), "each update's response shows that client's change");
  t.equal(final.text, successes.find((s) => s.version === final.version)!.marker, 'the final state is the last update');
  const stored = await cluster.sql<{ version: number; text: string }>('select version, text from posts.post where id = $1', [post.id]);
  t.same(stored, [{ version: final.version, text: final.text }], 'and that is what is stored');
});

/**
 * Waits until `BOUND_MS` have passed since `since` (a `performance.now()` taken after an answer):
 * the staleness bound is the promise under test, not a guess at the machine's speed.
 */
async function boundPassed(since: number) {
  for (let left = since + BOUND_MS - performance.now(); left > 0; left = since + BOUND_MS - performance.now()) await sleep(left);
}

const hits = (scrape: Scrape, cache: string) => total(scrape, 'agora_cache_lookups_total', { cache, outcome: 'hit' });

t.test('caches across instances: a sign-out, a new display name and a channel made private take effect at once where made, and everywhere within the staleness bound', async (t) => {
  const owner = newAccount('cached');
  const account = await unwrap(client(a).POST('/accounts', { body: owner }));
  const instances = [a, b, c];
  const signIn = async (on: Instance) => (await unwrap(client(on).POST('/sessions', { body: { email: owner.email, password: PASSWORD } }))).token;

  for (let round = 0; round < 6; round++) {
    const signingOut = instances[round % 3]!;
    const token = await signIn(signingOut);
    const headers = { authorization: `Bearer ${token}` };
    // Twice on every instance: the second answer may come from its cache.
    for (const instance of [...instances, ...instances]) {
      t.equal((await cluster.send(instance, 'GET', '/v1/sessions/me', { headers })).status, 200);
    }
    t.equal((await cluster.send(signingOut, 'DELETE', '/v1/sessions/me', { headers })).status, 204, `round ${round}: signed out`);
    const answered = performance.now();
    t.equal((await cluster.send(signingOut, 'GET', '/v1/sessions/me', { headers })).status, 401, `round ${round}: refused at once where it signed out`);
    await boundPassed(answered);
    for (const instance of instances) {
      const after = await cluster.send(instance, 'GET', '/v1/sessions/me', { headers });
      t.equal(after.status, 401, `round ${round}: the token is refused on ${instance.name} once the bound has passed`);
    }
  }

  const token = await signIn(a);
  const headers = { authorization: `Bearer ${token}` };
  const post = (await cluster.send(a, 'POST', '/v1/posts', { headers, body: { text: 'by a soon renamed author' } })).json as { id: string };
  for (const instance of [...instances, ...instances]) {
    const read = await cluster.send(instance, 'GET', `/v1/posts/${post.id}`);
    t.equal(read.json.author.displayName, 'User cached', `${instance.name} shows (and may cache) the author as it was`);
  }
  const renamed = await cluster.send(b, 'PATCH', `/v1/accounts/${account.id}`, {
    headers: { ...headers, 'if-match': '"0"', 'content-type': 'application/merge-patch+json' },
    body: { displayName: 'Renamed' },
  });
  t.equal(renamed.status, 200);
  const renamedAt = performance.now();
  t.equal((await cluster.send(b, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Renamed', 'the renaming instance shows the new name at once');
  await boundPassed(renamedAt);
  for (const instance of instances) {
    const read = await cluster.send(instance, 'GET', `/v1/posts/${post.id}`);
    t.equal(read.json.author.displayName, 'Renamed', `${instance.name} shows the new name once the bound has passed`);
  }

  const channel = (await cluster.send(a, 'POST', '/v1/channels', { headers, body: { name: 'soon private', visibility: 'public' } })).json as { id: string };
  // Twice on every instance: the second anonymous read may find the channel in the cache.
  for (const instance of [...instances, ...instances]) {
    t.equal((await cluster.send(instance, 'GET', `/v1/channels/${channel.id}/posts`)).status, 200);
  }
  const hidden = await cluster.send(c, 'PATCH', `/v1/channels/${channel.id}`, {
    headers: { ...headers, 'if-match': '"0"', 'content-type': 'application/merge-patch+json' },
    body: { visibility: 'private' },
  });
  t.equal(hidden.status, 200);
  const hiddenAt = performance.now();
  t.equal((await cluster.send(c, 'GET', `/v1/channels/${channel.id}/posts`)).status, 404, 'hidden at once where it was made private');
  await boundPassed(hiddenAt);
  for (const instance of instances) {
    t.equal((await cluster.send(instance, 'GET', `/v1/channels/${channel.id}/posts`)).status, 404, `${instance.name} hides it from anonymous readers once the bound has passed`);
  }
});

t.test('an instance whose invalidation connection stalls bypasses its caches instead of serving what changed elsewhere', async (t) => {
  const target = new URL(cluster.databaseUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const routed = new URL(cluster.databaseUrl);
  routed.port = String(proxy.port);
  const lagging = await cluster.start('lagging', { DATABASE_URL: routed.toString() });
  t.teardown(async () => {
    proxy.thaw();
    lagging.process.kill('SIGTERM');
    await lagging.exited;
    await proxy.close();
  });

  const owner = newAccount('stalled');
  const account = await unwrap(client(a).POST('/accounts', { body: owner }));
  const token = (await unwrap(client(lagging).POST('/sessions', { body: { email: owner.email, password: PASSWORD } }))).token;
  const headers = { authorization: `Bearer ${token}` };
  const post = (await cluster.send(a, 'POST', '/v1/posts', { headers, body: { text: 'read through a stalled instance' } })).json as { id: string };

  // The caches are in play there: both the session and the author get served from them.
  await eventually('the lagging instance serves the session and the author from its caches', 30_000, async () => {
    const before = await cluster.scrape(lagging);
    t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 200);
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'User stalled');
    const after = await cluster.scrape(lagging);
    return hits(after, 'sessions') > hits(before, 'sessions') && hits(after, 'account_summaries') > hits(before, 'account_summaries');
  });

  t.equal(proxy.freeze('agora-invalidations'), 1, "the instance's invalidation connection is stalled (open, silent)");
  const renamed = await cluster.send(b, 'PATCH', `/v1/accounts/${account.id}`, {
    headers: { ...headers, 'if-match': '"0"', 'content-type': 'application/merge-patch+json' },
    body: { displayName: 'Renamed meanwhile' },
  });
  t.equal(renamed.status, 200);
  t.equal((await cluster.send(b, 'DELETE', '/v1/sessions/me', { headers })).status, 204, 'signed out on another instance');
  const changedAt = performance.now();
  await boundPassed(changedAt);

  const before = await cluster.scrape(lagging);
  t.ok(total(before, 'agora_cache_invalidation_lag_seconds') >= BOUND_MS / 1000, `its invalidation lag is past the bound: ${total(before, 'agora_cache_invalidation_lag_seconds')} s`);
  t.equal(total(before, 'agora_cache_invalidation_listener_up'), 1, 'although its connection is still up');
  for (let i = 0; i < 3; i++) {
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Renamed meanwhile', 'the new name, read from the database');
    t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 401, 'the signed-out token is refused, although no notification could reach it');
  }
  const during = await cluster.scrape(lagging);
  t.equal(hits(during, 'sessions') - hits(before, 'sessions'), 0, 'no session was served from its cache');
  t.equal(hits(during, 'account_summaries') - hits(before, 'account_summaries'), 0, 'no author was served from its cache');

  proxy.thaw();
  await eventually('its invalidations catch up and the lag falls back under the bound', 30_000, async () => {
    return total(await cluster.scrape(lagging), 'agora_cache_invalidation_lag_seconds') < BOUND_MS / 1000;
  });
  t.equal((await cluster.send(lagging, 'GET', '/v1/sessions/me', { headers })).status, 401, 'still refused once caught up');
  await eventually('it serves from its caches again', 30_000, async () => {
    const before = await cluster.scrape(lagging);
    t.equal((await cluster.send(lagging, 'GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Renamed meanwhile');
    return hits(await cluster.scrape(lagging), 'account_summaries') > hits(before, 'account_summaries');
  });
});

t.test('durable events across instances: a friend request notifies once, within a second or two, on any instance; a message sent four times with one key is stored, enqueued and notified once', async (t) => {
  const [adaBody, bobBody] = [newAccount('ada_events'), newAccount('bob_events')];
  const [ada, bob] = await Promise.all([unwrap(client(a).POST('/accounts', { body: adaBody })), unwrap(client(b).POST('/accounts', { body: bobBody }))]);
  const adaToken = (await unwrap(client(a).POST('/sessions', { body: { email: adaBody.email, password: PASSWORD } }))).token;
  const bobToken = (await unwrap(client(b).POST('/sessions', { body: { email: bobBody.email, password: PASSWORD } }))).token;
  const notificationsOf = async (instance: Instance, token: string) => (await unwrap(client(instance, token).GET('/notifications', { params: { query: { limit: 100 } } }))).data;
  /** Polls `instance` for the recipient's notifications until `enough`; generous, but says how long it took. */
  const waitFor = async (instance: Instance, token: string, enough: (n: Awaited<ReturnType<typeof notificationsOf>>) => boolean) => {
    const started = performance.now();
    for (;;) {
      const found = await notificationsOf(instance, token);
      if (enough(found)) return { found, ms: performance.now() - started };
      if (performance.now() - started > 20_000) throw new Error(`no notification after 20 s: ${JSON.stringify(found)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /** Waits until no job of the notifications' queue is waiting, retrying or running. */
  const settled = async () => {
    for (const deadline = Date.now() + 20_000; ; ) {
      const pending = (await cluster.sql<{ n: number }>(`select count(*)::int as n from pgboss.job where name = 'events.notifications' and state < 'completed'`))[0]!.n;
      if (pending === 0) return;
      if (Date.now() > deadline) throw new Error(`${pending} job(s) still pending`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // A friend request made on a, read on c: enqueued in the request's transaction, woken by
  // NOTIFY on whichever worker takes it.
  const request = await unwrap(client(a, adaToken).POST('/friend-requests', { body: { accountId: bob.id } }));
  const { found, ms } = await waitFor(c, bobToken, (n) => n.length > 0);
  t.comment(`the notification was visible on another instance after ${Math.round(ms)} ms`);
  t.ok(ms < 2000, `visible on another instance within two seconds (${Math.round(ms)} ms)`);
  await settled();
  const received = await notificationsOf(b, bobToken);
  t.equal(received.length, 1, 'exactly one notification, whichever worker ran its job');
  t.match(received[0], { type: 'friendRequestReceived', friendRequestId: request.id, actor: { id: ada.id } });
  t.same(found.map((n) => n.id), received.map((n) => n.id));

  await unwrap(client(b, bobToken).PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.id, friendId: ada.id } } }));
  const conversation = await unwrap(client(a, adaToken).POST('/conversations', { body: { participantIds: [bob.id] } }));
  const sends = [];
  for (const instance of [a, b, c, a]) {
    sends.push(
      await cluster.send(instance, 'POST', `/v1/conversations/${conversation.id}/messages`, {
        headers: { authorization: `Bearer ${adaToken}`, 'idempotency-key': `message-${run}` },
        body: { text: 'once' },
      }),
    );
  }
  t.same(sends.map((r) => r.status), [201, 201, 201, 201]);
  t.same(sends.map((r) => r.headers.get('idempotent-replayed')), [null, 'true', 'true', 'true'], 'the three repeats were replayed');
  const messageId = (sends[0]!.json as { id: string }).id;
  t.ok(sends.every((r) => (r.json as { id: string }).id === messageId), 'one message id');
  const messages = (await cluster.sql<{ n: number }>('select count(*)::int as n from messages.message where conversation_id = $1', [conversation.id]))[0]!.n;
  t.equal(messages, 1, 'stored once');
  await waitFor(a, bobToken, (n) => n.some((x) => x.type === 'messageReceived'));
  await settled();
  const jobs = (await cluster.sql<{ n: number }>(`select count(*)::int as n from pgboss.job where name = 'events.notifications' and data->'payload'->>'messageId' = $1`, [messageId]))[0]!.n;
  t.equal(jobs, 1, 'its event was enqueued once');
  const afterMessage = await notificationsOf(c, bobToken);
  t.same(afterMessage.map((n) => n.type).toSorted(), ['friendRequestReceived', 'messageReceived'], 'and notified once');
  t.same((await notificationsOf(b, adaToken)).map((n) => n.type), ['friendRequestAccepted'], 'the sender heard of the acceptance, once');
});

t.test('key misuse across instances: the same key with another body is a 422 and creates nothing', async (t) => {
  const key = randomUUID();
  const first = newAccount('misuse1');
  const other = newAccount('misuse2');
  t.equal((await cluster.send(a, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body: first })).status, 201);
  for (const instance of [b, c]) {
    const res = await cluster.send(instance, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body: other });
    t.equal(res.status, 422, instance.name);
    t.equal(res.json.type, 'urn:agora:problem:idempotency-key-reused');
  }
  // Two different requests racing with one key on two instances: at most one runs.
  const raceKey = randomUUID();
  const bodies = [newAccount('misuse3'), newAccount('misuse4')];
  const results = await Promise.all(bodies.map((body, i) => cluster.send(cluster.instances[i]!, 'POST', '/v1/accounts', { headers: { 'idempotency-key': raceKey }, body })));
  t.equal(results.filter((r) => r.status === 201).length, 1, 'one of the two ran');
  t.ok(results.every((r) => r.status === 201 || r.status === 422 || (r.status === 409 && r.json.type === 'urn:agora:problem:idempotency-in-flight')));
  const handles = [first, other, ...bodies].map((body) => body.handle);
  const rows = await cluster.sql<{ handle: string }>('select handle from accounts.account where handle = any($1) order by handle', [handles]);
  t.equal(rows.length, 2, 'the first account, and one of the racing two');
  t.notOk(rows.some((r) => r.handle === other.handle), 'the reused key created nothing');
});

t.test('crash: an instance killed while it processes keyed creations; the keys are retried on another', async (t) => {
  const LEASE_SECONDS = 3;
  const doomed = await cluster.start('doomed', { IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS) });

  // Finished before the crash: committed with their keys.
  const done = Array.from({ length: 10 }, (_, i) => ({ key: randomUUID(), body: newAccount(`crashdone${i}`) }));
  const ids = await Promise.all(done.map(async ({ key, body }) => {
    const res = await cluster.send(doomed, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body });
    t.equal(res.status, 201);
    return res.json.id as string;
  }));

  // In flight at the crash: a table lock held by the test stops them after they have taken
  // their keys, inside their transactions, so that the kill lands mid-transaction. The
  // instance's pool has 10 connections, of which transactions may hold 8 (two stay for single
  // statements, src/persistence/sql.ts): 8 requests wait there, the other 12 for a turn.
  const release = await blockSignUps(t);
  const inFlight = Array.from({ length: 20 }, (_, i) => ({ key: randomUUID(), body: newAccount(`crashfly${i}`) }));
  const doomedSends = inFlight.map(({ key, body }) => cluster.send(doomed, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body }).catch(() => 'connection lost'));
  await eventually('8 of its transactions hold their keys and wait for the table', 10_000, async () => {
    const [row] = await cluster.sql<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'insert into accounts.account %'`,
    );
    return row!.n >= 8;
  });

  const killedAt = Date.now();
  doomed.process.kill('SIGKILL');
  await doomed.exited;
  t.same(new Set(await Promise.all(doomedSends)), new Set(['connection lost']), 'no answer came back from the killed instance');
  const held = await cluster.sql<{ objid: number }>(
    `select l.objid from pg_locks l where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())`,
  );
  t.ok(held.length >= 8, "just after the crash, the dead instance's keys are still held");
  // A retry meanwhile of every key: the ones the dead instance holds are in flight; the ones it
  // never started run now, and wait for the table as their predecessors did. (Spread over the
  // three instances, so that those waiting do not fill one instance's pool of 10 connections.)
  const probes = await Promise.all(
    inFlight.map(({ key, body }, i) =>
      cluster.send(cluster.instances[i % 3]!, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body, signal: AbortSignal.timeout(1000) }).then(
        (res) => (res.status === 409 && res.json.type === 'urn:agora:problem:idempotency-in-flight' ? 'in flight' : `${res.status}`),
        () => 'waiting',
      ),
    ),
  );
  t.equal(probes.filter((p) => p === 'in flight').length, held.length, 'a retry of a key the dead instance holds is 409 in flight, not a duplicate');
  t.ok(probes.every((p) => p === 'in flight' || p === 'waiting'), JSON.stringify(probes));

  await release();
  await eventually('the dead owner releases its keys within the lease', (LEASE_SECONDS + 3) * 1000, async () => (await advisoryLocksHeld()) === 0);
  const releasedMs = Date.now() - killedAt;
  t.ok(releasedMs <= (LEASE_SECONDS + 3) * 1000, `keys free ${releasedMs} ms after the crash (lease ${LEASE_SECONDS} s)`);

  // Retried on the surviving instances (by the SDK, which re-sends the same key).
  const retried = await Promise.all(
    inFlight.map(async ({ key, body }, i) => {
      const { data, response } = await client(cluster.instances[i % 2]!).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
      t.equal(response.status, 201);
      return data!.id;
    }),
  );
  t.equal(new Set(retried).size, 20);
  const replayed = await Promise.all(
    done.map(async ({ key, body }) => {
      const { data, response } = await client(b).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } });
      t.equal(response.headers.get('idempotent-replayed'), 'true');
      return data!.id;
    }),
  );
  t.same(replayed, ids, 'what the dead instance had committed is replayed, not created again');

  const handles = [...done, ...inFlight].map(({ body }) => body.handle);
  const rows = await cluster.sql<{ handle: string; n: number }>('select handle, count(*)::int as n from accounts.account where handle = any($1) group by handle', [handles]);
  t.equal(rows.length, 30, 'every key created its account');
  t.ok(rows.every((r) => r.n === 1), 'and only one');
});

t.test('a frozen instance (its connections open but silent) keeps a key no longer than the lease', async (t) => {
  const LEASE_SECONDS = 2;
  const frozen = await cluster.start('frozen', { IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS) });
  const release = await blockSignUps(t);
  const { key, body } = { key: randomUUID(), body: newAccount('frozen') };
  void cluster.send(frozen, 'POST', '/v1/accounts', { headers: { 'idempotency-key': key }, body }).catch(() => {});
  await eventually('the frozen instance holds the key', 10_000, async () => (await advisoryLocksHeld()) >= 1);
  frozen.process.kill('SIGSTOP');
  t.teardown(() => {
    frozen.process.kill('SIGKILL');
  });
  const frozenAt = Date.now();
  // PostgreSQL ends the statement after the lease, then the idle transaction after another:
  // the key comes free although the process never closes its connection.
  await eventually('the key is released', (2 * LEASE_SECONDS + 3) * 1000, async () => (await advisoryLocksHeld()) === 0);
  t.comment(`released ${Date.now() - frozenAt} ms after the instance froze`);
  await release();
  const res = await unwrap(client(c).POST('/accounts', { body, params: { header: { 'Idempotency-Key': key } } }));
  t.equal(res.handle, body.handle);
  const [{ n }] = (await cluster.sql('select count(*)::int as n from accounts.account where handle = $1', [body.handle])) as [{ n: number }];
  t.equal(n, 1);
});
