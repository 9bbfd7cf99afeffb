import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ifMatch, unwrap, type Account, type AccountList, type AgoraClient } from 'agora-sdk';
import { startAgora, uniqueHandle } from './helpers/agora.ts';
import { trimmedCharacters } from './helpers/contract.ts';

const agora = await startAgora(t);
const anonymous = agora.client();

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ARGON2ID = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const PASSWORD = 'correct horse battery staple';

/** A well-formed UUIDv7 that names no account. */
function unknownId(): string {
  return randomUUID().replace(/^(.{14})./, '$17');
}

/** The stored row of an account, or undefined when there is none. */
async function rowOf(id: string) {
  const rows = await agora.sql(
    `select email, handle, handle_key, display_name, bio, password_hash, version, created_at, updated_at
       from accounts.account where id = $1`,
    [id],
  );
  return rows[0];
}

async function sessionsOf(accountId: string): Promise<number> {
  const rows = await agora.sql('select count(*)::int as n from accounts.session where account_id = $1', [accountId]);
  return rows[0]!.n as number;
}

/** Signs up without signing in (one password hash instead of two). */
function createAccount(handle: string, email = `${handle.toLowerCase()}@example.com`): Promise<Account> {
  return unwrap(anonymous.POST('/accounts', { body: { email, password: PASSWORD, handle, displayName: `User ${handle}` } }));
}

/** The methods of an `Allow` header, sorted. */
function allowed(headers: Headers): string[] {
  return (headers.get('allow') ?? '').split(',').map((m) => m.trim()).filter(Boolean).sort();
}

function patchAccount(client: AgoraClient, accountId: string, version: string, body: { displayName?: string; bio?: string | null }) {
  return client.PATCH('/accounts/{accountId}', { params: { path: { accountId }, header: { 'If-Match': version } }, body });
}

t.test('POST /accounts', async (t) => {
  t.test('signs up: 201 with Location, ETag "0" and the account, including its lower-cased email', async (t) => {
    const handle = uniqueHandle('SignUp');
    const email = `${handle}.MiXeD@Example.COM`;
    const before = await agora.count('accounts.account');
    const started = Date.now();

    const { data, response } = await anonymous.POST('/accounts', { body: { email, password: PASSWORD, handle, displayName: 'Ada Lovelace' } });

    t.equal(response.status, 201);
    t.match(data!.id, UUID_V7, 'the id is a UUIDv7');
    t.equal(response.headers.get('location'), `/v1/accounts/${data!.id}`);
    t.equal(response.headers.get('etag'), '"0"');
    t.equal(data!.handle, handle, 'the handle keeps its case');
    t.equal(data!.displayName, 'Ada Lovelace');
    t.equal(data!.bio, null);
    t.equal(data!.version, 0);
    t.equal(data!.email, email.toLowerCase(), 'the owner sees the email, lower-cased');
    t.equal(data!.createdAt, data!.updatedAt);
    t.ok(Date.parse(data!.createdAt) >= started - 1000 && Date.parse(data!.createdAt) <= Date.now() + 1000, 'createdAt is now');
    t.equal(await agora.count('accounts.account'), before + 1, 'one row stored');

    const row = await rowOf(data!.id);
    t.equal(row!.email, email.toLowerCase(), 'stored lower-cased');
    t.equal(row!.handle, handle);
    t.equal(row!.handle_key, handle.toLowerCase());
    t.equal(row!.display_name, 'Ada Lovelace');
    t.equal(row!.bio, null);
    t.equal(row!.version, 0);
    t.equal((row!.created_at as Date).toISOString(), data!.createdAt);
    t.match(row!.password_hash, ARGON2ID, 'argon2id with OWASP parameters');
    t.notOk((row!.password_hash as string).includes(PASSWORD), 'the password itself is not stored');

    const signIn = await anonymous.POST('/sessions', { body: { email, password: PASSWORD } });
    t.equal(signIn.response.status, 201, 'the stored hash verifies the password (email in any case)');
    t.equal(signIn.data!.account.id, data!.id);
  });

  t.test('a handle taken in another case is a 409 on /handle and stores nothing', async (t) => {
    const handle = uniqueHandle('dupH');
    await createAccount(handle);
    const before = await agora.count('accounts.account');
    const other = `${uniqueHandle('other')}@example.com`;

    const { error, response } = await anonymous.POST('/accounts', {
      body: { email: other, password: PASSWORD, handle: handle.toUpperCase(), displayName: 'Copycat' },
    });

    t.equal(response.status, 409);
    t.equal(error!.type, 'urn:agora:problem:conflict');
    t.equal(error!.errors?.[0]?.pointer, '/handle');
    t.equal(response.headers.get('location'), null);
    t.equal(await agora.count('accounts.account'), before, 'no row added');
    t.same(await agora.sql('select id from accounts.account where email = $1', [other]), []);
  });

  t.test('an email taken in another case is a 409 on /email and stores nothing', async (t) => {
    const taken = await createAccount(uniqueHandle('dupE'));
    const before = await agora.count('accounts.account');
    const handle = uniqueHandle('fresh');

    const { error, response } = await anonymous.POST('/accounts', {
      body: { email: taken.email!.toUpperCase(), password: PASSWORD, handle, displayName: 'Copycat' },
    });

    t.equal(response.status, 409);
    t.equal(error!.type, 'urn:agora:problem:conflict');
    t.equal(error!.errors?.[0]?.pointer, '/email');
    t.equal(await agora.count('accounts.account'), before, 'no row added');
    t.same(await agora.sql('select id from accounts.account where handle_key = $1', [handle.toLowerCase()]), []);
  });
});

t.test('GET /accounts/{accountId}', async (t) => {
  const owner = await agora.signUp();
  const stranger = await agora.signUp();
  const accountId = owner.account.id;
  const { email: _email, ...publicView } = owner.account;

  t.test('anonymous callers get the public profile with an ETag, without the email', async (t) => {
    const { data, response } = await anonymous.GET('/accounts/{accountId}', { params: { path: { accountId } } });
    t.equal(response.status, 200);
    t.equal(response.headers.get('etag'), '"0"');
    t.same(data, publicView);
    t.notOk('email' in data!, 'no email');
  });

  t.test('another signed-in account does not see the email either', async (t) => {
    const { data, response } = await stranger.client.GET('/accounts/{accountId}', { params: { path: { accountId } } });
    t.equal(response.status, 200);
    t.same(data, publicView);
    t.notOk('email' in data!, 'no email');
  });

  t.test('the owner sees the email', async (t) => {
    const { data, response } = await owner.client.GET('/accounts/{accountId}', { params: { path: { accountId } } });
    t.equal(response.status, 200);
    t.equal(response.headers.get('etag'), '"0"');
    t.same(data, owner.account);
    t.equal(data!.email, owner.email);
  });

  t.test('an unknown id is a 404', async (t) => {
    const id = unknownId();
    const { error, response } = await owner.client.GET('/accounts/{accountId}', { params: { path: { accountId: id } } });
    t.equal(response.status, 404);
    t.equal(error!.type, 'urn:agora:problem:not-found');
    t.equal(error!.instance, `/v1/accounts/${id}`);
  });

  t.test('an id that is not a UUID is a 400 naming path/accountId', async (t) => {
    const res = await agora.raw('GET', '/v1/accounts/not-a-uuid');
    t.equal(res.status, 400);
    t.equal(res.json.type, 'urn:agora:problem:validation-error');
    t.equal(res.json.errors[0].pointer, 'path/accountId');
  });

  t.test('a bad token is refused even though anonymous callers may read', async (t) => {
    const res = await agora.raw('GET', `/v1/accounts/${accountId}`, { headers: { authorization: `Bearer agora_${'A'.repeat(43)}` } });
    t.equal(res.status, 401);
    t.equal(res.json.type, 'urn:agora:problem:unauthenticated');
    t.match(res.headers.get('www-authenticate'), /^Bearer/);
  });
});

t.test('HEAD /accounts/{accountId} answers like GET without a body', async (t) => {
  const account = await createAccount(uniqueHandle('head'));
  const res = await agora.raw('HEAD', `/v1/accounts/${account.id}`);
  t.equal(res.status, 200);
  t.equal(res.text, '');
  t.equal(res.headers.get('etag'), '"0"');
  t.match(res.headers.get('content-type'), /^application\/json/);

  const missing = await agora.raw('HEAD', `/v1/accounts/${unknownId()}`);
  t.equal(missing.status, 404);
  t.equal(missing.text, '');
});

t.test('PATCH /accounts/{accountId}', async (t) => {
  t.test('the owner with the current ETag changes the profile: version +1, new ETag, later updatedAt', async (t) => {
    const { account, client } = await agora.signUp();

    const { data, response } = await patchAccount(client, account.id, ifMatch(0), { displayName: 'Grace Hopper', bio: 'Compilers.' });

    t.equal(response.status, 200);
    t.equal(response.headers.get('etag'), '"1"');
    t.equal(data!.version, 1);
    t.equal(data!.displayName, 'Grace Hopper');
    t.equal(data!.bio, 'Compilers.');
    t.equal(data!.handle, account.handle);
    t.equal(data!.email, account.email, 'the owner sees the email');
    t.equal(data!.createdAt, account.createdAt, 'createdAt does not move');
    t.ok(Date.parse(data!.updatedAt) > Date.parse(account.updatedAt), 'updatedAt advanced');

    const row = await rowOf(account.id);
    t.equal(row!.display_name, 'Grace Hopper');
    t.equal(row!.bio, 'Compilers.');
    t.equal(row!.version, 1);
    t.equal((row!.updated_at as Date).toISOString(), data!.updatedAt);

    const read = await anonymous.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
    t.equal(read.response.headers.get('etag'), '"1"', 'GET shows the new ETag');
  });

  t.test('bio: null clears the bio and leaves other fields alone', async (t) => {
    const { account, client } = await agora.signUp();
    await unwrap(patchAccount(client, account.id, ifMatch(0), { bio: 'Something to clear.' }));

    const { data, response } = await patchAccount(client, account.id, ifMatch(1), { bio: null });

    t.equal(response.status, 200);
    t.equal(data!.bio, null);
    t.equal(data!.displayName, account.displayName);
    t.equal(data!.version, 2);
    const row = await rowOf(account.id);
    t.equal(row!.bio, null);
    t.equal(row!.display_name, account.displayName);
    t.equal(row!.version, 2);
  });

  t.test('an empty patch is a 200 that changes nothing, not even the version', async (t) => {
    const { account, client } = await agora.signUp();

    const { data, response } = await patchAccount(client, account.id, ifMatch(0), {});

    t.equal(response.status, 200);
    t.equal(response.headers.get('etag'), '"0"');
    t.same(data, account);
    const row = await rowOf(account.id);
    t.equal(row!.version, 0);
    t.equal((row!.updated_at as Date).toISOString(), account.updatedAt);
  });

  t.test('an empty patch still checks If-Match', async (t) => {
    const { account, client } = await agora.signUp();
    const { error, response } = await patchAccount(client, account.id, ifMatch(5), {});
    t.equal(response.status, 412);
    t.equal(error!.type, 'urn:agora:problem:precondition-failed');
    t.equal(error!.currentVersion, 0);
    t.equal(response.headers.get('etag'), '"0"');
  });

  t.test('a stale If-Match is a 412 carrying the current version, and nothing changes', async (t) => {
    const { account, client } = await agora.signUp();
    await unwrap(patchAccount(client, account.id, ifMatch(0), { displayName: 'First Edit' }));

    const { error, response } = await patchAccount(client, account.id, ifMatch(0), { displayName: 'Lost Update' });

    t.equal(response.status, 412);
    t.equal(error!.type, 'urn:agora:problem:precondition-failed');
    t.equal(error!.currentVersion, 1);
    t.equal(response.headers.get('etag'), '"1"');
    const row = await rowOf(account.id);
    t.equal(row!.display_name, 'First Edit');
    t.equal(row!.version, 1);
  });

  t.test('a weak entity tag never matches If-Match (strong comparison)', async (t) => {
    const { account, client } = await agora.signUp();
    const { error, response } = await patchAccount(client, account.id, 'W/"0"', { displayName: 'Weakly Matched' });
    t.equal(response.status, 412);
    t.equal(error!.currentVersion, 0);
    const row = await rowOf(account.id);
    t.equal(row!.display_name, account.displayName);
    t.equal(row!.version, 0);
  });

  t.test('an If-Match list is refused: a conditional update names one version', async (t) => {
    const { account, client } = await agora.signUp();
    const { error, response } = await patchAccount(client, account.id, '"7", "0"', { displayName: 'Listed' });
    t.equal(response.status, 400);
    t.equal(error!.errors?.[0]?.pointer, 'header/if-match');
    const row = await rowOf(account.id);
    t.equal(row!.display_name, account.displayName);
    t.equal(row!.version, 0);
  });

  t.test('If-Match: * applies whatever the version', async (t) => {
    const { account, client } = await agora.signUp();
    await unwrap(patchAccount(client, account.id, ifMatch(0), { bio: 'v1' }));

    const { data, response } = await patchAccount(client, account.id, '*', { bio: 'v2' });

    t.equal(response.status, 200);
    t.equal(data!.version, 2);
    t.equal(response.headers.get('etag'), '"2"');
    const row = await rowOf(account.id);
    t.equal(row!.bio, 'v2');
    t.equal(row!.version, 2);
  });

  t.test('application/merge-patch+json is accepted', async (t) => {
    const { account, token } = await agora.signUp();

    const res = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json', 'if-match': '"0"' },
      body: JSON.stringify({ displayName: 'Merge Patched' }),
    });

    t.equal(res.status, 200);
    t.equal(res.json.displayName, 'Merge Patched');
    t.equal(res.json.version, 1);
    t.equal(res.headers.get('etag'), '"1"');
    const row = await rowOf(account.id);
    t.equal(row!.display_name, 'Merge Patched');
    t.equal(row!.version, 1);
  });

  t.test('another account is a 403 and nothing changes', async (t) => {
    const owner = await agora.signUp();
    const stranger = await agora.signUp();

    const { error, response } = await patchAccount(stranger.client, owner.account.id, ifMatch(0), { displayName: 'Hijacked' });

    t.equal(response.status, 403);
    t.equal(error!.type, 'urn:agora:problem:forbidden');
    const row = await rowOf(owner.account.id);
    t.equal(row!.display_name, owner.account.displayName);
    t.equal(row!.version, 0);
  });

  t.test('anonymous callers get a 401 and nothing changes', async (t) => {
    const account = await createAccount(uniqueHandle('anonP'));
    const { error, response } = await patchAccount(anonymous, account.id, ifMatch(0), { displayName: 'Anonymous' });
    t.equal(response.status, 401);
    t.equal(error!.type, 'urn:agora:problem:unauthenticated');
    t.match(response.headers.get('www-authenticate'), /^Bearer/);
    t.equal((await rowOf(account.id))!.version, 0);
  });

  t.test('an unknown id is a 404 (not a 403) for a signed-in caller', async (t) => {
    const { client } = await agora.signUp();
    const { error, response } = await patchAccount(client, unknownId(), ifMatch(0), { displayName: 'Nobody' });
    t.equal(response.status, 404);
    t.equal(error!.type, 'urn:agora:problem:not-found');
  });

  t.test('without If-Match it is a 428 naming header/if-match, and nothing changes', async (t) => {
    const { account, token } = await agora.signUp();

    const res = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: 'Unconditional' }),
    });

    t.equal(res.status, 428);
    t.equal(res.json.type, 'urn:agora:problem:precondition-required');
    t.equal(res.json.errors[0].pointer, 'header/if-match');
    const row = await rowOf(account.id);
    t.equal(row!.display_name, account.displayName);
    t.equal(row!.version, 0);
  });

  t.test('application/merge-patch+json gets past the content-type check', async (t) => {
    const { account, token } = await agora.signUp();
    const res = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ displayName: 'Merge Patched' }),
    });
    t.equal(res.status, 428, 'refused for the missing If-Match, not with 415');
    t.equal(res.json.type, 'urn:agora:problem:precondition-required');
  });

  t.test('another content type is a 415, and nothing changes', async (t) => {
    const { account, token } = await agora.signUp();
    const res = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain', 'if-match': '"0"' },
      body: JSON.stringify({ displayName: 'Plain Text' }),
    });
    t.equal(res.status, 415);
    t.equal(res.json.type, 'urn:agora:problem:unsupported-media-type');
    t.equal((await rowOf(account.id))!.version, 0);
  });

  t.test('fields outside the patch schema (email, handle) are a 400, and nothing changes', async (t) => {
    const { account, token } = await agora.signUp();
    for (const field of ['email', 'handle']) {
      const res = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': '"0"' },
        body: JSON.stringify({ [field]: field === 'email' ? 'new@example.com' : uniqueHandle('new') }),
      });
      t.equal(res.status, 400, field);
      t.equal(res.json.type, 'urn:agora:problem:validation-error');
      t.equal(res.json.errors[0].pointer, `/${field}`);
    }
    const row = await rowOf(account.id);
    t.equal(row!.email, account.email);
    t.equal(row!.handle, account.handle);
    t.equal(row!.version, 0);
  });
});

t.test('DELETE /accounts/{accountId}', async (t) => {
  t.test('another account is a 403 and nothing is deleted', async (t) => {
    const owner = await agora.signUp();
    const stranger = await agora.signUp();
    const before = await agora.count('accounts.account');

    const { error, response } = await stranger.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: owner.account.id } } });

    t.equal(response.status, 403);
    t.equal(error!.type, 'urn:agora:problem:forbidden');
    t.equal(await agora.count('accounts.account'), before);
    t.ok(await rowOf(owner.account.id), 'the account is still there');
    t.equal(await sessionsOf(owner.account.id), 1, 'and so is its session');
  });

  t.test('anonymous callers get a 401 and nothing is deleted', async (t) => {
    const account = await createAccount(uniqueHandle('anonD'));
    const { error, response } = await anonymous.DELETE('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
    t.equal(response.status, 401);
    t.equal(error!.type, 'urn:agora:problem:unauthenticated');
    t.ok(await rowOf(account.id), 'the account is still there');
  });

  t.test('the owner with a stale If-Match gets a 412 and nothing is deleted', async (t) => {
    const { account, client } = await agora.signUp();

    const { error, response } = await client.DELETE('/accounts/{accountId}', {
      params: { path: { accountId: account.id }, header: { 'If-Match': ifMatch(3) } },
    });

    t.equal(response.status, 412);
    t.equal(error!.type, 'urn:agora:problem:precondition-failed');
    t.equal(error!.currentVersion, 0);
    t.equal(response.headers.get('etag'), '"0"');
    t.ok(await rowOf(account.id), 'the account is still there');
    t.equal(await sessionsOf(account.id), 1);
  });

  t.test('the owner closes the account: 204, the row and every session are gone, the handle is free again', async (t) => {
    const { account, token, email, password, client } = await agora.signUp();
    const second = await unwrap(anonymous.POST('/sessions', { body: { email, password } }));
    t.equal(await sessionsOf(account.id), 2, 'two sessions before');
    const before = await agora.count('accounts.account');

    const { response } = await client.DELETE('/accounts/{accountId}', {
      params: { path: { accountId: account.id }, header: { 'If-Match': ifMatch(0) } },
    });

    t.equal(response.status, 204);
    t.equal(await agora.count('accounts.account'), before - 1);
    t.equal(await rowOf(account.id), undefined, 'the row is gone');
    t.equal(await sessionsOf(account.id), 0, 'every session is gone');
    for (const [name, bearer] of [['the deleting token', token], ['the other session', second.token]] as const) {
      const me = await agora.client(bearer).GET('/sessions/me');
      t.equal(me.response.status, 401, `${name} no longer works`);
      t.equal(me.error!.type, 'urn:agora:problem:unauthenticated');
    }
    const read = await anonymous.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
    t.equal(read.response.status, 404);
    t.equal(read.error!.type, 'urn:agora:problem:not-found');

    const again = await agora.signUp({ handle: account.handle.toUpperCase(), email });
    t.not(again.account.id, account.id, 'a new account took the handle and email');
    t.equal(again.account.handle, account.handle.toUpperCase());
  });

  t.test('without If-Match the owner deletes unconditionally', async (t) => {
    const { account, client } = await agora.signUp();
    await unwrap(patchAccount(client, account.id, ifMatch(0), { bio: 'version 1' }));
    const { response } = await client.DELETE('/accounts/{accountId}', { params: { path: { accountId: account.id } } });
    t.equal(response.status, 204);
    t.equal(await rowOf(account.id), undefined);
  });
});

t.test('OPTIONS', async (t) => {
  const owner = await agora.signUp();
  const stranger = await agora.signUp();
  const accountId = owner.account.id;

  t.test('the owner may PATCH and DELETE the account', async (t) => {
    const { response } = await owner.client.OPTIONS('/accounts/{accountId}', { params: { path: { accountId } } });
    t.equal(response.status, 204);
    t.same(allowed(response.headers), ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH']);
  });

  t.test('another account and anonymous callers may only read', async (t) => {
    for (const [who, client] of [['another account', stranger.client], ['anonymous', anonymous]] as const) {
      const { response } = await client.OPTIONS('/accounts/{accountId}', { params: { path: { accountId } } });
      t.equal(response.status, 204, who);
      t.same(allowed(response.headers), ['GET', 'HEAD', 'OPTIONS'], who);
    }
  });

  t.test('an unknown account is a 404', async (t) => {
    const { error, response } = await owner.client.OPTIONS('/accounts/{accountId}', { params: { path: { accountId: unknownId() } } });
    t.equal(response.status, 404);
    t.equal(error!.type, 'urn:agora:problem:not-found');
  });

  t.test('everybody may list and sign up on the collection', async (t) => {
    const { response } = await anonymous.OPTIONS('/accounts');
    t.equal(response.status, 204);
    t.same(allowed(response.headers), ['GET', 'HEAD', 'OPTIONS', 'POST']);
  });
});

t.test('GET /accounts', async (t) => {
  // 45 accounts under one unique prefix, so the list ignores every other test's accounts.
  const base = uniqueHandle('lst');
  const handles = Array.from({ length: 45 }, (_, i) => `${base}_${String(i).padStart(2, '0')}`);
  const created: Account[] = [];
  for (let i = 0; i < handles.length; i += 5) {
    created.push(...(await Promise.all(handles.slice(i, i + 5).map((h) => createAccount(h)))));
  }
  const newestFirst = created.map((a) => a.id).sort().reverse();
  const oldestFirst = [...newestFirst].reverse();

  const list = (query: Record<string, string | number>) => anonymous.GET('/accounts', { params: { query } });

  async function walk(query: Record<string, string | number>): Promise<AccountList[]> {
    const pages: AccountList[] = [];
    let cursor: string | null = null;
    do {
      const page: AccountList = await unwrap(list(cursor ? { ...query, cursor } : query));
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 20);
    return pages;
  }

  t.test('newest first by default, 20 per page, no emails for anonymous callers', async (t) => {
    const { data, response } = await list({ handle: base });
    t.equal(response.status, 200);
    t.same(data!.data.map((a) => a.id), newestFirst.slice(0, 20));
    t.type(data!.nextCursor, 'string');
    t.notOk(data!.data.some((a) => 'email' in a), 'no emails');
    const times = data!.data.map((a) => Date.parse(a.createdAt));
    t.ok(times.every((time, i) => i === 0 || time <= times[i - 1]!), 'createdAt never increases');
  });

  t.test('following nextCursor with limit=10 sees every account once, newest first', async (t) => {
    const pages = await walk({ handle: base, limit: 10 });
    t.same(pages.map((p) => p.data.length), [10, 10, 10, 10, 5]);
    t.same(pages.flatMap((p) => p.data.map((a) => a.id)), newestFirst);
    t.equal(pages.at(-1)!.nextCursor, null, 'the last page has no next cursor');
    t.ok(pages.slice(0, -1).every((p) => typeof p.nextCursor === 'string'), 'every other page has one');
  });

  t.test('sort=createdAt walks oldest first', async (t) => {
    const pages = await walk({ handle: base, limit: 10, sort: 'createdAt' });
    t.same(pages.flatMap((p) => p.data.map((a) => a.id)), oldestFirst);
    t.equal(pages.at(-1)!.nextCursor, null);
  });

  t.test('page=1..5 match the cursor walk; past the end is empty', async (t) => {
    const walked = await walk({ handle: base, limit: 10 });
    for (let page = 1; page <= 5; page++) {
      const { data } = await list({ handle: base, limit: 10, page });
      t.same(data!.data.map((a) => a.id), walked[page - 1]!.data.map((a) => a.id), `page ${page}`);
    }
    const beyond = await unwrap(list({ handle: base, limit: 10, page: 6 }));
    t.same(beyond, { data: [], nextCursor: null });
    const first = await unwrap(list({ handle: base, limit: 10, page: 1 }));
    const next = await unwrap(list({ handle: base, limit: 10, cursor: first.nextCursor! }));
    t.same(next.data.map((a) => a.id), walked[1]!.data.map((a) => a.id), "page 1's nextCursor leads to page 2");
  });

  t.test('page up to the cap (50) is accepted; page=51 is a 400 on query/page', async (t) => {
    const last = await list({ handle: base, limit: 10, page: 50 });
    t.equal(last.response.status, 200);
    t.same(last.data!.data, []);
    const { error, response } = await list({ handle: base, page: 51 });
    t.equal(response.status, 400);
    t.equal(error!.type, 'urn:agora:problem:validation-error');
    t.equal(error!.errors?.[0]?.pointer, 'query/page');
  });

  t.test('page and cursor together are a 400 on query/page', async (t) => {
    const first = await unwrap(list({ handle: base, limit: 10 }));
    const { error, response } = await list({ handle: base, limit: 10, page: 2, cursor: first.nextCursor! });
    t.equal(response.status, 400);
    t.equal(error!.type, 'urn:agora:problem:validation-error');
    t.equal(error!.errors?.[0]?.pointer, 'query/page');
  });

  t.test('a cursor reused with another filter or sort is a 400 on query/cursor', async (t) => {
    const { nextCursor } = await unwrap(list({ handle: base, limit: 10 }));
    const others: Record<string, string | number>[] = [
      { handle: `${base}_1`, limit: 10 },
      { handle: base, limit: 10, sort: 'createdAt' },
      { limit: 10 },
    ];
    for (const query of others) {
      const { error, response } = await list({ ...query, cursor: nextCursor! });
      t.equal(response.status, 400, JSON.stringify(query));
      t.equal(error!.errors?.[0]?.pointer, 'query/cursor');
    }
    const same = await list({ handle: base.toUpperCase(), limit: 10, cursor: nextCursor! });
    t.equal(same.response.status, 200, 'the same prefix in another case is the same filter');
    t.same(same.data!.data.map((a) => a.id), newestFirst.slice(10, 20));
  });

  t.test('a cursor the API did not issue is a 400 on query/cursor', async (t) => {
    const forged = Buffer.from(JSON.stringify({ a: 'not-an-id', f: 'x' })).toString('base64url');
    for (const cursor of ['abc', forged]) {
      const { error, response } = await list({ handle: base, cursor });
      t.equal(response.status, 400, cursor);
      t.equal(error!.errors?.[0]?.pointer, 'query/cursor');
      t.equal(error!.type, 'urn:agora:problem:validation-error');
    }
  });

  t.test('limit must be 1..100', async (t) => {
    for (const limit of [0, 101]) {
      const { error, response } = await list({ handle: base, limit });
      t.equal(response.status, 400, `limit=${limit}`);
      t.equal(error!.type, 'urn:agora:problem:validation-error');
      t.equal(error!.errors?.[0]?.pointer, 'query/limit');
    }
    const one = await unwrap(list({ handle: base, limit: 1 }));
    t.same(one.data.map((a) => a.id), newestFirst.slice(0, 1));
    const hundred = await unwrap(list({ handle: base, limit: 100 }));
    t.same(hundred.data.map((a) => a.id), newestFirst);
    t.equal(hundred.nextCursor, null);
  });

  t.test('the handle prefix ignores case and treats _ literally', async (t) => {
    const prefix = uniqueHandle('pfx');
    const underscore = await createAccount(`${prefix}_a1`);
    const letter = await createAccount(`${prefix}Xa1`);

    const upper = await unwrap(list({ handle: prefix.toUpperCase() }));
    t.same(upper.data.map((a) => a.id).sort(), [underscore.id, letter.id].sort(), 'case-insensitive');

    const literal = await unwrap(list({ handle: `${prefix}_` }));
    t.same(literal.data.map((a) => a.id), [underscore.id], '_ is not a wildcard');

    const x = await unwrap(list({ handle: `${prefix}x` }));
    t.same(x.data.map((a) => a.id), [letter.id], 'x matches X');

    const none = await unwrap(list({ handle: `${prefix}_b` }));
    t.same(none, { data: [], nextCursor: null });
  });
});

t.test('display names lose exactly the surrounding white space the spec lists; other text is kept as sent', async (t) => {
  const trimmed = trimmedCharacters('DisplayName');
  t.equal(trimmed.length, 25, 'the spec lists the 25 characters String.prototype.trim removes');
  for (const c of trimmed) t.equal(`${c}x${c}`.trim(), 'x', `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} is trimmed by the service`);
  const around = trimmed.join('');
  // Look alike, but are not white space: kept as sent, at the ends too.
  const kept = '\u200B\u2060\u180E\u0085';
  const { account, client } = await agora.signUp({ displayName: `${around}Ada \u3000 Lovelace${around}` });
  t.equal(account.displayName, 'Ada \u3000 Lovelace', 'sign-up trims the ends only');
  t.equal((await rowOf(account.id))!.display_name, 'Ada \u3000 Lovelace', 'stored as the response says');

  const patched = await unwrap(patchAccount(client, account.id, ifMatch(0), { displayName: `${around}${kept}Ada${kept}${around}`, bio: `${around}bio${around}` }));
  t.equal(patched.displayName, `${kept}Ada${kept}`, 'a patch trims the listed characters and keeps the others');
  t.equal(patched.bio, `${around}bio${around}`, 'a bio is stored as sent');
  const row = await rowOf(account.id);
  t.equal(row!.display_name, patched.displayName);
  t.equal(row!.bio, patched.bio);
  const read = await unwrap(anonymous.GET('/accounts/{accountId}', { params: { path: { accountId: account.id } } }));
  t.equal(read.displayName, patched.displayName, 'a read agrees with the write');

  const blank = await patchAccount(client, account.id, ifMatch(1), { displayName: around });
  t.equal(blank.response.status, 400, 'only listed characters: blank');
  const cleared = await unwrap(patchAccount(client, account.id, ifMatch(1), { bio: around }));
  t.equal(cleared.bio, null, 'a blank bio clears it, as the spec says');
});
