// The scenarios that several instances on one database must pass, shared by the test files that
// start such a cluster in different topologies: test/cluster.test.ts (instances on PostgreSQL
// directly) and test/pgbouncer.test.ts (behind PgBouncer in transaction mode). Each is one
// tap subtest's body; the counts are parameters, so that a topology can run a smaller storm.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { createAgoraClient, unwrap } from 'agora-sdk';
import type { Cluster, Instance } from './cluster.ts';
import { domainEventsSettled } from './jobs.ts';

export const PASSWORD = 'correct horse battery staple';

export interface ScenarioOptions {
  /** The staleness bound the instances run with (CACHE_MAX_STALENESS_MS). */
  boundMs: number;
  /** Makes this run's handles unique. */
  run: string;
}

/** Over the cluster's first three instances (a, b, c). */
export function clusterScenarios(cluster: Cluster, { boundMs: BOUND_MS, run }: ScenarioOptions) {
  const [a, b, c] = cluster.instances as [Instance, Instance, Instance];


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
   * Clients update one resource concurrently through different instances, each re-reading and
   * retrying on 412 until its own change is in. Written over `read`/`update` so that the same
   * race can run on another versioned resource (posts) by swapping the two functions.
   */
  async function raceUpdates(
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

  /**
   * Waits until `BOUND_MS` have passed since `since` (a `performance.now()` taken after an answer):
   * the staleness bound is the promise under test, not a guess at the machine's speed.
   */
  async function boundPassed(since: number) {
    for (let left = since + BOUND_MS - performance.now(); left > 0; left = since + BOUND_MS - performance.now()) await sleep(left);
  }

  return {
    newAccount,
    client,
    withConcurrency,
    advisoryLocksHeld,
    boundPassed,

    /** A creating call retried in a storm over three instances, some sends dropped mid-request, creates once. */
    async retryStorm(t: Test, LOGICAL = 200) {
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
    t.equal(accounts, LOGICAL, `exactly ${LOGICAL} accounts exist`);
    const [{ records }] = (await cluster.sql(`select count(*)::int as records from idempotency.record where key = any($1)`, [creations.map((c) => c.key)])) as [{ records: number }];
    t.equal(records, LOGICAL, 'one record per key');
    t.equal(await advisoryLocksHeld(), 0, 'no key is left locked');

    const logged = cluster.instances.flatMap((i) => i.logs).filter((l) => l.msg === 'request completed' && l.idempotencyKey === creations[0]!.key);
    t.ok(logged.length >= 1, 'the key is in the request log lines');
    },

    /** Clients update one post concurrently through three instances (If-Match, 412, retry): no update is lost. */
    async updateRace(t: Test, CLIENTS = 20) {
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

    const { successes, preconditionFailures } = await raceUpdates(
      CLIENTS,
      async (i) => (await cluster.send(instanceOf(i + 1), 'GET', `/v1/posts/${post.id}`, { headers: auth(i) })).json as { version: number },
      async (i, version, marker) => {
        const res = await cluster.send(instanceOf(i), 'PATCH', `/v1/posts/${post.id}`, { headers: { ...auth(i), 'if-match': `"${version}"` }, body: { text: marker } });
        if (res.status === 412) t.equal(res.json.currentVersion > version, true, '412 carries a newer current version');
        return { status: res.status, version: res.json?.version, marker: res.json?.text };
      },
    );
    const answered = performance.now();
    t.comment(`${successes.length} updates, ${preconditionFailures} stale attempts retried`);

    t.equal(successes.length, CLIENTS, 'every client got its update in');
    // The promise read back: at once on the instance that made the last update, on every other
    // once the staleness bound has passed (another instance may serve the version before it
    // until then: read right away there, it is a race with the invalidation, as on a busy machine).
    const last = successes.find((s) => s.version === successes.length);
    t.ok(last, 'an update made the last version');
    const readOn = async (instance: Instance) => (await cluster.send(instance, 'GET', `/v1/posts/${post.id}`, { headers: auth(0) })).json as { version: number; text: string };
    const final = await readOn(instanceOf(last?.client ?? 0));
    t.equal(final.version, successes.length, 'the final version is the number of successful updates, at once where it was made');
    await boundPassed(answered);
    for (const instance of cluster.instances) {
      t.same(await readOn(instance), { ...final }, `${instance.name} serves the final version once the bound has passed`);
    }
    t.same(
      successes.map((s) => s.version).sort((x, y) => x - y),
      Array.from({ length: CLIENTS }, (_, i) => i + 1),
      `each successful update made its own version, 1 to ${CLIENTS}: none overwrote another unseen`,
    );
    t.ok(successes.every((s) => s.marker === `marker-${s.client}`), "each update's response shows that client's change");
    t.equal(final.text, successes.find((s) => s.version === final.version)!.marker, 'the final state is the last update');
    const stored = await cluster.sql<{ version: number; text: string }>('select version, text from posts.post where id = $1', [post.id]);
    t.same(stored, [{ version: final.version, text: final.text }], 'and that is what is stored');
    },

    /** A sign-out, a rename, a channel made private and an ended friendship take effect at once where made, and everywhere within the bound. */
    async cachesAcross(t: Test, ROUNDS = 6) {
    const owner = newAccount('cached');
    const account = await unwrap(client(a).POST('/accounts', { body: owner }));
    const instances = [a, b, c];
    const signIn = async (on: Instance) => (await unwrap(client(on).POST('/sessions', { body: { email: owner.email, password: PASSWORD } }))).token;

    for (let round = 0; round < ROUNDS; round++) {
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

    // A friendship ended on b: in a conversation of two, a message is refused at once there, and
    // everywhere once the bound has passed (each instance kept the participants and the friendship).
    const palBody = newAccount('cached_pal');
    const pal = await unwrap(client(a).POST('/accounts', { body: palBody }));
    const palToken = (await unwrap(client(a).POST('/sessions', { body: { email: palBody.email, password: PASSWORD } }))).token;
    await unwrap(client(a, token).POST('/friend-requests', { body: { accountId: pal.id } }));
    await unwrap(client(a, palToken).PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: pal.id, friendId: account.id } } }));
    const conversation = await unwrap(client(a, token).POST('/conversations', { body: { participantIds: [pal.id] } }));
    const sendOn = (instance: Instance, text: string) => cluster.send(instance, 'POST', `/v1/conversations/${conversation.id}/messages`, { headers, body: { text } });
    // Twice on every instance: the second send finds both in memory.
    for (const instance of [...instances, ...instances]) t.equal((await sendOn(instance, `to a friend, on ${instance.name}`)).status, 201);
    const unfriended = await cluster.send(b, 'DELETE', `/v1/accounts/${pal.id}/friends/${account.id}`, { headers: { authorization: `Bearer ${palToken}` } });
    t.equal(unfriended.status, 204);
    const unfriendedAt = performance.now();
    t.equal((await sendOn(b, 'refused at once')).status, 403, 'refused at once where the friendship ended');
    await boundPassed(unfriendedAt);
    for (const instance of instances) {
      t.equal((await sendOn(instance, `refused on ${instance.name}`)).status, 403, `${instance.name} refuses it once the bound has passed`);
    }
    },

    /** A friend request notifies once on any instance; a keyed message sent four times is stored, enqueued and notified once. */
    async durableEvents(t: Test) {
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
    const settled = () => domainEventsSettled((text) => cluster.sql(text));

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
    },

    /** The same key with another body is a 422 across instances and creates nothing. */
    async keyMisuse(t: Test) {
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
    },

  };
}
