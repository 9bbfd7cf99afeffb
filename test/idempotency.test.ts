// Idempotency-Key on creating operations, in one server: replays, misuse, in-flight requests,
// what is and is not stored, retention, and that key and data commit in one transaction.
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import t from 'tap';
import { lockTable, waitForLockWaiters } from './helpers/locks.ts';
import { createTestDatabase, startAgora, uniqueHandle, type Agora } from './helpers/agora.ts';
import { spec } from './helpers/contract.ts';
import { conventionViolations } from '../src/http/conventions.ts';
import { canonicalJson, fingerprint, idempotencyKey } from '../src/handlers/idempotency.ts';
import type { UnitOfWork } from '../src/services/unit-of-work.ts';

const agora = await startAgora(t);

function newAccount(handle = uniqueHandle('idem')) {
  return { email: `${handle.toLowerCase()}@example.com`, password: 'correct horse battery staple', handle, displayName: `User ${handle}` };
}

function signUp(body: unknown, key?: string, extra: Record<string, string> = {}) {
  return agora.raw('POST', '/v1/accounts', {
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }), ...extra },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function accountsWithHandle(handle: string): Promise<number> {
  return (await agora.sql('select count(*)::int as n from accounts.account where handle = $1', [handle]))[0]!.n;
}

async function records(key: string) {
  return agora.sql('select * from idempotency.record where key = $1', [key]);
}

/** Holds a lock that blocks every insert into accounts.account until `release` is called. */
const blockSignUps = (database: Agora) => lockTable(database.databaseUrl, 'accounts.account');

/** Waits (bounded) until `n` transactions of this database hold an idempotency key's lock. */
async function keysLocked(n: number, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ held }] = (await agora.sql<{ held: number }>(
      `select count(*)::int as held from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
    )) as [{ held: number }];
    if (held >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${held} of ${n} keys got locked within ${timeoutMs} ms`);
    await sleep(20);
  }
}

t.test('a retry with the same key replays the first response and creates nothing more', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  const first = await signUp(body, key);
  t.equal(first.status, 201);
  t.equal(first.headers.get('idempotent-replayed'), null, 'the original is not marked as a replay');
  const again = await signUp(body, key);
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.text, first.text, 'the same body, byte for byte');
  t.equal(again.headers.get('location'), first.headers.get('location'));
  t.equal(again.headers.get('etag'), first.headers.get('etag'));
  t.equal(again.headers.get('content-type'), 'application/json; charset=utf-8');
  t.not(again.headers.get('x-request-id'), first.headers.get('x-request-id'), 'each request still has its own id');
  t.equal(await accountsWithHandle(body.handle), 1);

  const [record] = (await records(key)) as [Record<string, any>];
  t.equal(record.scope, 'anonymous');
  t.equal(record.operation, 'createAccount');
  t.equal(record.response_status, 201);
  t.notMatch(record.response_body, /correct horse/, 'the password is not in the stored response');
  const retention = (record.expires_at.getTime() - record.created_at.getTime()) / 1000;
  t.equal(retention, 24 * 3600, 'kept for 24 h by default');

  // Logged with the request, and counted when replayed.
  const completed = agora.logs.filter((l) => l.msg === 'request completed' && l.idempotencyKey === key);
  t.equal(completed.length, 2, 'both requests log the key');
  t.same(completed.map((l) => l.idempotentReplayed ?? false), [false, true]);
  t.ok(agora.replays.includes('createAccount'), 'the replay hook was called');
});

t.test('the quoted structured-field spelling is the same key; key order in the body does not matter', async (t) => {
  const body = newAccount();
  const key = `k-${randomUUID()}`;
  const first = await signUp(body, `"${key}"`);
  t.equal(first.status, 201);
  const reordered = JSON.stringify(Object.fromEntries(Object.entries(body).reverse()));
  const again = await signUp(reordered, key);
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.json.id, first.json.id);
  t.equal((await records(key)).length, 1);
});

t.test('the same key with a different request is a 422 and creates nothing', async (t) => {
  const key = randomUUID();
  const body = newAccount();
  t.equal((await signUp(body, key)).status, 201);
  const other = newAccount();
  const misuse = await signUp(other, key);
  t.equal(misuse.status, 422);
  t.equal(misuse.json.type, 'urn:agora:problem:idempotency-key-reused');
  t.equal(await accountsWithHandle(other.handle), 0, 'the second account was not created');
  // A changed password alone (not in the response) also makes it another request.
  t.equal((await signUp({ ...body, password: 'another password entirely' }, key)).status, 422);
  // The key still replays the original request.
  t.equal((await signUp(body, key)).headers.get('idempotent-replayed'), 'true');
});

t.test('malformed keys are a 400 naming the header', async (t) => {
  for (const bad of ['a'.repeat(256), 'has space', '"unterminated', '"', '""', 'quote"inside', 'tab\there', `"${'b'.repeat(256)}"`]) {
    const res = await signUp(newAccount(), bad);
    t.equal(res.status, 400, JSON.stringify(bad));
    t.same(res.json.errors?.map((e: { pointer: string }) => e.pointer), ['header/idempotency-key']);
  }
  for (const good of ['a'.repeat(255), `"${'c'.repeat(255)}"`, '"with space and \\"escapes\\""', "!#$%&'*+-.^_`|~"]) {
    const res = await signUp(newAccount(), good);
    t.equal(res.status, 201, JSON.stringify(good));
  }
  t.equal((await records('with space and "escapes"')).length, 1, 'the key is stored unquoted');
});

t.test('without a key nothing is recorded; sign-in ignores keys (it would have to store the token)', async (t) => {
  const before = await agora.count('idempotency.record');
  const body = newAccount();
  t.equal((await signUp(body)).status, 201);
  const key = randomUUID();
  const signIn = () =>
    agora.raw('POST', '/v1/sessions', {
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ email: body.email, password: body.password }),
    });
  const a = await signIn();
  const b = await signIn();
  t.equal(a.status, 201);
  t.equal(b.status, 201);
  t.not(a.json.token, b.json.token, 'two sessions');
  t.equal(b.headers.get('idempotent-replayed'), null);
  t.equal(await agora.count('idempotency.record'), before);
});

t.test("an operation's own refusal is stored and replayed", async (t) => {
  const taken = newAccount();
  t.equal((await signUp(taken)).status, 201);
  const key = randomUUID();
  const clash = { ...newAccount(), handle: taken.handle };
  const first = await signUp(clash, key);
  t.equal(first.status, 409);
  t.equal(first.json.type, 'urn:agora:problem:conflict');
  // Even once the handle is free again, a retry gets the first answer.
  await agora.sql('delete from accounts.account where handle = $1', [taken.handle]);
  const again = await signUp(clash, key);
  t.equal(again.status, 409);
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.same(again.json, first.json);
  t.equal(await accountsWithHandle(taken.handle), 0);
  // Requests refused before the operation runs (the schema) are not stored.
  const invalidKey = randomUUID();
  t.equal((await signUp({ ...newAccount(), email: 'not an email' }, invalidKey)).status, 400);
  t.equal((await records(invalidKey)).length, 0);
});

t.test('a 5xx is not stored: the key stays free and a retry creates the account', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  await agora.sql(`create function pg_temp_fail() returns trigger language plpgsql as $$ begin raise exception 'disk on fire'; end $$`);
  await agora.sql(`create trigger fail_once before insert on accounts.account for each row when (new.handle = '${body.handle}') execute function pg_temp_fail()`);
  const failed = await signUp(body, key);
  t.equal(failed.status, 500);
  t.notMatch(failed.text, /disk on fire/, 'no internals in the body');
  t.equal((await records(key)).length, 0, 'nothing stored for the key');
  await agora.sql('drop trigger fail_once on accounts.account');
  await agora.sql('drop function pg_temp_fail()');
  const retried = await signUp(body, key);
  t.equal(retried.status, 201);
  t.equal(retried.headers.get('idempotent-replayed'), null, 'it ran, it was not replayed');
  t.equal(await accountsWithHandle(body.handle), 1);
});

t.test('key and data commit together: when the key cannot be stored, the account is not created either', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  await agora.sql(`create function pg_temp_no_record() returns trigger language plpgsql as $$ begin raise exception 'no room for keys'; end $$`);
  await agora.sql(`create trigger no_record before insert on idempotency.record for each row when (new.key = '${key}') execute function pg_temp_no_record()`);
  t.teardown(async () => {
    await agora.sql('drop trigger if exists no_record on idempotency.record');
    await agora.sql('drop function if exists pg_temp_no_record()');
  });
  const failed = await signUp(body, key);
  t.equal(failed.status, 500);
  t.equal(await accountsWithHandle(body.handle), 0, 'the account insert was rolled back with the key');
});

t.test('while the first request with a key runs, another gets 409 in flight with Retry-After', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  const block = await blockSignUps(agora);
  let released = false;
  t.teardown(async () => {
    if (!released) await block.release();
  });
  const first = signUp(body, key);
  await keysLocked(1);
  // And the first is waiting for the table, past its claim: the claim's answer has reached the
  // server, whose statement log counts a statement when its answer comes (on a busy machine,
  // that can be after the key shows as locked, and would be counted as the second's).
  await waitForLockWaiters(agora.databaseUrl, 1);
  const { result: second, statements } = await agora.statementsDuring(() => signUp(body, key));
  t.equal(second.status, 409);
  t.equal(second.json.type, 'urn:agora:problem:idempotency-in-flight');
  t.equal(statements.length, 1, `refused by its lookup, before any work of its own (no password hashed, no transaction): ${statements.join('\n')}`);
  t.match(statements[0], /pg_try_advisory_xact_lock/);
  t.equal(second.headers.get('retry-after'), '1');
  const misuse = await signUp(newAccount(), key);
  t.equal(misuse.status, 409, 'even another request with the key: it cannot be judged until the first ends');
  released = true;
  await block.release();
  const original = await first;
  t.equal(original.status, 201);
  const third = await signUp(body, key);
  t.equal(third.headers.get('idempotent-replayed'), 'true');
  t.equal(third.json.id, original.json.id);
  t.equal(await accountsWithHandle(body.handle), 1);
});

t.test('a record replayed once is replayed from memory, until it changes or goes', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  const hits = async () =>
    (await agora.scrape()).samples.find((s) => s.name === 'agora_cache_lookups_total' && s.labels.cache === 'idempotency_replays' && s.labels.outcome === 'hit')?.value ?? 0;
  const first = await signUp(body, key);
  t.equal(first.status, 201);
  const before = await hits();
  const fromRecord = await signUp(body, key);
  t.equal(fromRecord.headers.get('idempotent-replayed'), 'true');
  t.equal(await hits(), before, 'the first replay reads the record');
  const fromMemory = await signUp(body, key);
  t.equal(fromMemory.headers.get('idempotent-replayed'), 'true');
  t.equal(fromMemory.text, first.text, 'the same bytes');
  t.equal(fromMemory.headers.get('location'), first.headers.get('location'));
  t.equal(await hits(), before + 1, 'the next one is held in memory');
  const misuse = await signUp(newAccount(), key);
  t.equal(misuse.status, 422, 'a reuse is refused from memory as from the record');

  // Changed by hand (expired early): every instance is told, and the key is free again.
  await agora.sql(`update idempotency.record set expires_at = now() - interval '1 second' where key = $1`, [key]);
  const other = newAccount();
  const fresh = await signUp(other, key);
  t.equal(fresh.status, 201, 'a new request, not a replay of the copy in memory');
  t.equal(fresh.headers.get('idempotent-replayed'), null);
  t.equal(await accountsWithHandle(other.handle), 1);
  t.equal((await signUp(other, key)).headers.get('idempotent-replayed'), 'true');
  t.equal((await signUp(other, key)).headers.get('idempotent-replayed'), 'true', 'held again');

  // Deleted by hand: the same.
  await agora.sql('delete from idempotency.record where key = $1', [key]);
  const third = newAccount();
  const again = await signUp(third, key);
  t.equal(again.status, 201);
  t.equal(again.headers.get('idempotent-replayed'), null);
  t.equal(await accountsWithHandle(third.handle), 1);
});

t.test('expired keys are forgotten, and purged', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  t.equal((await signUp(body, key)).status, 201);
  await agora.sql(`update idempotency.record set expires_at = now() - interval '1 second' where key = $1`, [key]);
  const other = newAccount();
  const fresh = await signUp(other, key);
  t.equal(fresh.status, 201, 'an expired key is a new request, not a reuse');
  t.equal(fresh.headers.get('idempotent-replayed'), null);
  t.equal(await accountsWithHandle(other.handle), 1);
  t.equal((await records(key)).length, 1, 'the expired record was replaced');

  await agora.sql(`update idempotency.record set expires_at = now() - interval '1 second' where key = $1`, [key]);
  const purged = await agora.services.idempotency.purgeExpired();
  t.ok(purged >= 1);
  t.equal((await records(key)).length, 0);
});

t.test('keys are scoped to the caller and the operation', async (t) => {
  const { idempotency } = agora.services;
  let runs = 0;
  // The work's first statement goes with the claim: a replay runs no further.
  const work = async (uow: UnitOfWork) => {
    await uow.query('select 1');
    runs++;
    return { response: { status: 201, headers: {}, body: JSON.stringify({ run: runs }) }, keep: true };
  };
  const key = randomUUID();
  const base = { scope: randomUUID(), operation: 'createAccount', key, fingerprint: 'f' };
  const a = await idempotency.execute(base, work);
  const b = await idempotency.execute({ ...base, scope: randomUUID() }, work);
  const c = await idempotency.execute({ ...base, operation: 'createPost' }, work);
  const d = await idempotency.execute(base, work);
  t.equal(runs, 3, 'another caller or operation with the same key runs; the same one replays');
  t.same([a.replayed, b.replayed, c.replayed, d.replayed], [false, false, false, true]);
  t.equal(d.response.body, a.response.body);
});

/** canonicalJson as it was first written: the keys recorded since were fingerprinted so, and their retries must still match. */
function firstCanonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(firstCanonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${firstCanonicalJson(v)}`).join(',')}}`;
}

t.test('fingerprints: canonical JSON, bare and quoted keys', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [{ d: 2, c: null }], e: undefined }), '{"a":[{"c":null,"d":2}],"b":1}');
  t.equal(canonicalJson({ é: 1, Z: 2, a: 3, '10': 4, '9': 5, 'a"b': [undefined, 'x\n'] }), '{"10":4,"9":5,"Z":2,"a":3,"a\\"b":[null,"x\\n"],"é":1}', 'keys by UTF-16 code unit');
  // Random values, as JSON bodies, queries and path parameters come: the same text as the first
  // implementation wrote, for every one.
  const keys = ['a', 'b', 'B', 'é', '10', '9', '', 'a b', 'x"y', '😀', '__proto__x'];
  const random = (depth: number): unknown => {
    const pick = Math.floor(Math.random() * (depth > 3 ? 5 : 8));
    if (pick === 0) return null;
    if (pick === 1) return Math.random() < 0.5 ? Math.floor(Math.random() * 1e6) : Math.random() * 1e3 - 500;
    if (pick === 2) return keys[Math.floor(Math.random() * keys.length)]! + String.fromCharCode(Math.floor(Math.random() * 0x3000));
    if (pick === 3) return Math.random() < 0.5;
    if (pick === 4) return undefined;
    if (pick === 5) return Array.from({ length: Math.floor(Math.random() * 4) }, () => random(depth + 1));
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(Math.random() * 6); i > 0; i--) object[keys[Math.floor(Math.random() * keys.length)]!] = random(depth + 1);
    return object;
  };
  let differing = 0;
  for (let i = 0; i < 3000; i++) {
    const value = random(0);
    if (canonicalJson(value) !== firstCanonicalJson(value)) differing++;
  }
  t.equal(differing, 0, 'the same text as before for 3,000 random values');
  const call = { api: '/v1', method: 'post', params: {}, query: {}, body: { x: 1, y: 'z' } };
  t.equal(fingerprint(call), fingerprint({ ...call, method: 'POST', body: { y: 'z', x: 1 } }));
  t.not(fingerprint(call), fingerprint({ ...call, body: { x: 2, y: 'z' } }));
  t.not(fingerprint(call), fingerprint({ ...call, query: { q: 1 } }));
  t.not(fingerprint(call), fingerprint({ ...call, api: '/v2' }), 'another version is another request');
  const v1 = createHash('sha256').update('{"body":{"x":1,"y":"z"},"method":"POST","params":{},"query":{}}').digest('hex');
  t.equal(fingerprint(call), v1, "v1's fingerprints are as they were before v2: its recorded keys still match their retries");
  t.equal(idempotencyKey('"a \\"b\\" \\\\c"'), 'a "b" \\c');
  t.equal(idempotencyKey('abc'), 'abc');
});

t.test('the start-up check: a creating POST must decide about idempotency', async (t) => {
  t.same(conventionViolations(spec as never), [], 'openapi.yaml keeps the conventions');
  const copy = () => structuredClone(spec) as any;

  const forgotten = copy();
  delete forgotten.paths['/accounts'].post['x-idempotent'];
  t.match(conventionViolations(forgotten), [/POST \/accounts \(createAccount\) creates data: mark it/]);

  const optOut = copy();
  optOut.paths['/accounts'].post['x-idempotent'] = false;
  t.same(conventionViolations(optOut), [], 'an explicit opt-out is accepted');

  const noHeader = copy();
  noHeader.paths['/accounts'].post.parameters = [];
  delete noHeader.paths['/accounts'].post.responses['422'];
  t.match(conventionViolations(noHeader), [/declare the header parameter/, /declare the 422/]);

  const newCreator = copy();
  newCreator.paths['/posts'] = { post: { operationId: 'createPost', responses: { '201': { description: 'created' } } } };
  t.match(conventionViolations(newCreator), [/POST \/posts \(createPost\) creates data/]);

  const noConditionalGet = copy();
  delete noConditionalGet.paths['/accounts/{accountId}'].get.responses['304'];
  t.match(conventionViolations(noConditionalGet), [/GET \/accounts\/\{accountId\} \(getAccount\) sends an ETag: declare the 304/]);
});

t.test('every store queries through the Database or UnitOfWork it is given, never through the ORM', async (t) => {
  // A store reaching for MikroORM's EntityManager would pick its transaction up from ambient
  // context (or run outside the request's): the unit of work must be the one passed down.
  const { readdirSync, readFileSync } = await import('node:fs');
  const root = new URL('../src/persistence/', import.meta.url);
  const offenders: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('store.ts')) continue;
    const source = readFileSync(new URL(entry, root), 'utf8');
    if (/@mikro-orm|\bem\b|EntityManager|TransactionContext|transactional\(/.test(source)) offenders.push(entry);
  }
  t.ok(readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((e) => e.endsWith('store.ts')).length >= 5, 'the stores were found');
  t.same(offenders, [], 'query through the Database (src/persistence/sql.ts) given to the store');
});

t.test('a record committed between the claim and the record (the first request, racing) wins: the work rolls back and its record answers', async (t) => {
  const { idempotency } = agora.services;
  const key = randomUUID();
  const scope = randomUUID();
  const request = { scope, operation: 'createAccount', key, fingerprint: 'f'.repeat(64) };
  const author = await agora.signUp();
  const text = `racing ${key}`;
  const postsWritten = async () => (await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n as number;
  const stored = JSON.stringify({ first: true });
  const insertRecord = (fingerprint: string, k: string) =>
    agora.sql(
      `insert into idempotency.record (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
       values ($1, 'createAccount', $2, $3, 201, '{"location":"/v1/accounts/first"}', $4, now(), now() + interval '1 hour')`,
      [scope, k, fingerprint, stored],
    );
  const answer = await idempotency.execute(request, async (uow) => {
    // The claim saw no record and took the lock; the first request's record commits now (as it
    // would had it committed just before the claim's lock, after its snapshot).
    await uow.query(`insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
                     values (gen_random_uuid(), $1, null, $2, now(), now(), 0)`, [author.account.id, text]);
    t.equal(await postsWritten(), 0, 'not committed yet');
    await insertRecord('f'.repeat(64), key);
    return { response: { status: 201, headers: {}, body: JSON.stringify({ second: true }) }, keep: true };
  });
  t.same(answer, { response: { status: 201, headers: { location: '/v1/accounts/first' }, body: stored }, replayed: true }, "the first request's response");
  t.equal(await postsWritten(), 0, 'what the work wrote was rolled back');
  t.equal((await records(key)).length, 1, 'one record: the first one');

  const other = randomUUID();
  await t.rejects(
    idempotency.execute({ ...request, key: other }, async () => {
      await insertRecord('0'.repeat(64), other);
      return { response: { status: 201, headers: {}, body: null }, keep: true };
    }),
    { message: /already used for a different request/ },
    'a racing record of another request: the key was reused (422)',
  );
});

t.test('concurrent retries of a finished request are all replayed: they take no lock', async (t) => {
  const body = newAccount();
  const key = randomUUID();
  const first = await signUp(body, key);
  t.equal(first.status, 201);
  const block = await blockSignUps(agora);
  try {
    const retries = await Promise.all(Array.from({ length: 6 }, () => signUp(body, key)));
    t.same(retries.map((r) => r.status), [201, 201, 201, 201, 201, 201]);
    t.same(retries.map((r) => r.headers.get('idempotent-replayed')), ['true', 'true', 'true', 'true', 'true', 'true']);
    t.ok(retries.every((r) => r.text === first.text), 'each the first response, byte for byte');
  } finally {
    await block.release();
  }
  t.equal(await accountsWithHandle(body.handle), 1);
});

// A post's key is not looked up first: its claim goes with its write (a sign-up's is, above).
// The same guarantees, found out by the claim.
const postsWithText = async (text: string) => (await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n as number;

async function poster() {
  const author = await agora.signUp();
  return Object.assign(
    (body: unknown, key: string) =>
      agora.raw('POST', '/v1/posts', {
        headers: { authorization: `Bearer ${author.token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      }),
    { author },
  );
}

t.test('a keyed post, claimed with its write: a retry is refused by the claim, its write not run, and answered from the record; a reuse is a 422', async (t) => {
  const post = await poster();
  const key = randomUUID();
  const text = `claimed ${key}`;
  const { result: first, statements } = await agora.statementsDuring(() => post({ text }, key));
  t.equal(first.status, 201);
  t.notOk(statements.some((s) => /from idempotency\.record where/.test(s)), `no lookup before the claim: ${statements.join('\n')}`);

  const misuse = await agora.statementsDuring(() => post({ text: 'another text' }, key));
  t.equal(misuse.result.status, 422, 'another request with the key, judged from the record');
  t.equal(misuse.result.json.type, 'urn:agora:problem:idempotency-key-reused');
  t.match(misuse.statements[0], /^begin;\nselect idempotency\.claim\(/, 'found out by the claim');
  t.equal(await postsWithText('another text'), 0, 'its write, sent with the claim, did not run');

  const retry = await post({ text }, key);
  t.equal(retry.status, 201);
  t.equal(retry.headers.get('idempotent-replayed'), 'true');
  t.equal(retry.text, first.text, 'the first response, byte for byte');
  t.equal(retry.headers.get('location'), first.headers.get('location'));
  t.equal(await postsWithText(text), 1, 'one post');
  t.equal((await records(key)).length, 1);
});

t.test('a keyed post in flight: another request with its key is refused by its claim with 409, and writes nothing', async (t) => {
  const post = await poster();
  const key = randomUUID();
  const text = `in flight ${key}`;
  const block = await lockTable(agora.databaseUrl, 'posts.post');
  let released = false;
  t.teardown(async () => {
    if (!released) await block.release();
  });
  const first = post({ text }, key);
  await keysLocked(1);
  await waitForLockWaiters(agora.databaseUrl, 1);
  const { result: second, statements } = await agora.statementsDuring(() => post({ text }, key));
  t.equal(second.status, 409);
  t.equal(second.json.type, 'urn:agora:problem:idempotency-in-flight');
  t.equal(second.headers.get('retry-after'), '1');
  t.equal(statements.length, 2, `the claim, refused (the write with it not run), and its ROLLBACK: ${statements.join('\n')}`);
  t.match(statements[0], /^begin;\nselect idempotency\.claim\(/);
  const misuse = await post({ text: `another ${key}` }, key);
  t.equal(misuse.status, 409, 'even another request with the key: it cannot be judged until the first ends');
  released = true;
  await block.release();
  const original = await first;
  t.equal(original.status, 201);
  const third = await post({ text }, key);
  t.equal(third.headers.get('idempotent-replayed'), 'true');
  t.equal(third.json.id, original.json.id);
  t.equal(await postsWithText(text), 1, 'one post');
  t.equal(await postsWithText(`another ${key}`), 0);
});

t.test('concurrent retries of a finished post are all replayed: their claims find the record before any lock', async (t) => {
  const post = await poster();
  const key = randomUUID();
  const text = `retried ${key}`;
  const first = await post({ text }, key);
  t.equal(first.status, 201);
  // A claim that went on to its write would wait for this lock, and fail the test by its time.
  const block = await lockTable(agora.databaseUrl, 'posts.post');
  try {
    const retries = await Promise.all(Array.from({ length: 6 }, () => post({ text }, key)));
    t.same(retries.map((r) => r.status), [201, 201, 201, 201, 201, 201], 'none refused as in flight by another');
    t.same(retries.map((r) => r.headers.get('idempotent-replayed')), ['true', 'true', 'true', 'true', 'true', 'true']);
    t.ok(retries.every((r) => r.text === first.text), 'each the first response, byte for byte');
  } finally {
    await block.release();
  }
  t.equal(await postsWithText(text), 1);

  // One retry caught holding the key's lock (as each does for the moment between its claim and
  // its ROLLBACK): another is still answered from the record, not refused as in flight. The
  // lock is the store's (src/persistence/idempotency/store.ts, lockName), taken here by hand.
  const holder = new pg.Client({ connectionString: agora.databaseUrl });
  await holder.connect();
  t.teardown(() => holder.end());
  const lockName = (k: string) => `agora.idempotency:${JSON.stringify([post.author.account.id, 'createPost', k])}`;
  const hold = (k: string) => holder.query('select pg_advisory_lock(hashtextextended($1, 0))', [lockName(k)]);
  const unhold = (k: string) => holder.query('select pg_advisory_unlock(hashtextextended($1, 0))', [lockName(k)]);
  const unused = `${key}-unused`;
  await hold(unused);
  t.equal((await post({ text: `unused ${key}` }, unused)).status, 409, 'the lock taken by hand is the key lock: a fresh key held so is in flight');
  await unhold(unused);
  // A key of its own: the retries above left theirs in this instance's memory.
  const held = `${key}-held`;
  t.equal((await post({ text: `held ${key}` }, held)).status, 201);
  await hold(held);
  const whileHeld = await post({ text: `held ${key}` }, held);
  t.equal(whileHeld.status, 201, 'a retry while another holds the key is answered');
  t.equal(whileHeld.headers.get('idempotent-replayed'), 'true');
  await unhold(held);
  t.equal(await postsWithText(`held ${key}`), 1);
  t.equal(await postsWithText(`unused ${key}`), 0);
});

t.test("a keyed post whose key's record expired runs afresh: the claim deletes the record and writes the new one", async (t) => {
  const post = await poster();
  const key = randomUUID();
  t.equal((await post({ text: `before ${key}` }, key)).status, 201);
  await agora.sql(`update idempotency.record set expires_at = now() - interval '1 second' where key = $1`, [key]);
  const fresh = await post({ text: `after ${key}` }, key);
  t.equal(fresh.status, 201, 'an expired key is a new request, not a reuse');
  t.equal(fresh.headers.get('idempotent-replayed'), null);
  t.equal(await postsWithText(`after ${key}`), 1);
  const [record] = await records(key);
  t.equal(JSON.parse(record!.response_body as string).text, `after ${key}`, 'the record is the new request\'s');
  t.equal((await records(key)).length, 1);
});

t.test("a claim reads its key's record by the key, whatever the table's statistics said when its connection kept the plans", async (t) => {
  // A database of its own, whose record table is analyzed while empty (as after a restore or the
  // bench's seeding), then grows with no new analysis (autovacuum's would replace the plans).
  const client = new pg.Client(await createTestDatabase(t));
  await client.connect();
  t.teardown(() => client.end());
  await client.query('alter table idempotency.record set (autovacuum_enabled = false)');
  await client.query('vacuum analyze idempotency.record');
  const claim = (key: string) => client.query('select idempotency.claim($1, $2, $3, $4, $5, now())', ['30s', `lock ${key}`, 'scope', 'createPost', key]);
  // More than five calls: PL/pgSQL then keeps a plan for each statement of the function made for
  // no parameter values in particular, from what the statistics said then (an empty table).
  for (let i = 0; i < 8; i++) {
    await client.query('begin');
    await claim(`early ${i}`);
    await client.query('rollback');
  }
  await client.query(`insert into idempotency.record (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
    select 'scope', 'createPost', 'old ' || g, 'f', 201, '{}', '{}', now(), now() + case when g = 1 then interval '-1 second' else interval '1 day' end
      from generate_series(1, 20000) g`);
  await client.query('begin');
  await claim('new 1');
  await claim('new 2');
  await claim('old 1'); // its record expired: deleted, and the key claimed afresh
  t.same((await client.query("select key from idempotency.record where key in ('old 1', 'old 2') order by key")).rows, [{ key: 'old 2' }], 'the expired record is deleted, the live one kept');
  const refused = await claim('old 2').catch((error: { code?: string }) => error); // a live record refuses it
  t.equal((refused as { code?: string }).code, '23505', 'a live record still refuses the claim');
  await client.query('rollback');
  // What the next claims read, from this connection's counters (they hold what it has not
  // reported yet, earlier transactions' included: so a difference).
  const counters = async () => (await client.query<{ seq_scan: string; read: string }>(
    "select seq_scan, seq_tup_read + idx_tup_fetch as read from pg_stat_xact_user_tables where relid = 'idempotency.record'::regclass",
  )).rows.map((r) => ({ seqScan: Number(r.seq_scan), read: Number(r.read) }))[0]!;
  await client.query('begin');
  const before = await counters();
  for (const key of ['new 3', 'new 4', 'new 5']) await claim(key);
  const after = await counters();
  await client.query('rollback');
  t.equal(after.seqScan - before.seqScan, 0, 'no sequential scan of the records');
  t.ok(after.read - before.read <= 3, `each claim reads its key's record at most, not the 20,000 (${after.read - before.read} rows read by three claims)`);
});

t.test('keys and responses reach PostgreSQL intact through the claim and the record (written in as literals)', async (t) => {
  const { idempotency } = agora.services;
  const key = `it's a "key" \\ with \\' quotes, $1, $$ and ünïcödé ${randomUUID()}`;
  const body = JSON.stringify({ text: "O'Brien said \"\\\\n\" and $2; commit; --" });
  const request = { scope: randomUUID(), operation: 'createPost', key, fingerprint: 'a'.repeat(64) };
  let runs = 0;
  const work = async (uow: UnitOfWork) => {
    await uow.query('select 1');
    runs++;
    return { response: { status: 201, headers: { location: "/v1/posts/it's" }, body }, keep: true };
  };
  const first = await idempotency.execute(request, work);
  const again = await idempotency.execute(request, work);
  t.equal(runs, 1);
  t.equal(again.replayed, true);
  t.same(again.response, first.response);
  t.equal(again.response.body, body, 'the body byte for byte');
  const [stored] = await records(key);
  t.equal(stored?.key, key, 'the key as sent');
  t.equal(stored?.response_body, body);
  t.same(stored?.response_headers, { location: "/v1/posts/it's" });
});
