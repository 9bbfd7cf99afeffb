import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { AgoraError, AuthenticationError, unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { eventually } from './helpers/locks.ts';
import { delta, total } from './helpers/metrics.ts';

const agora = await startAgora(t);

t.test('sign in, who am I, sign out: the token stops working at once', async (t) => {
  const { account, email, password } = await agora.signUp();
  const anonymous = agora.client();
  const { data, response } = await anonymous.POST('/sessions', { body: { email: email.toUpperCase(), password } });
  t.equal(response.status, 201);
  t.equal(response.headers.get('location'), '/v1/sessions/me');
  t.equal(response.headers.get('cache-control'), 'no-store');
  t.match(data!.token, /^agora_[A-Za-z0-9_-]{43}$/);
  t.equal(data!.account.id, account.id);
  t.equal(data!.account.email, email);
  t.ok(Date.parse(data!.expiresAt) > Date.now() + 29 * 24 * 3600_000, 'absolute expiry is 30 days away');

  const stored = await agora.sql('select token_hash from accounts.session where account_id = $1', [account.id]);
  t.equal(stored.length, 2, 'two sessions: sign-up helper and this one');
  t.notOk(stored.some((r) => r.token_hash === data!.token), 'only a hash of the token is stored');

  const me = agora.client(data!.token);
  const whoami = await me.GET('/sessions/me');
  t.equal(whoami.response.status, 200);
  t.equal(whoami.data!.id, account.id);
  t.equal(whoami.data!.email, email);

  const out = await me.DELETE('/sessions/me');
  t.equal(out.response.status, 204);
  const after = await me.GET('/sessions/me');
  t.equal(after.response.status, 401);
  t.equal(after.error!.type, 'urn:agora:problem:unauthenticated');
  t.match(after.response.headers.get('www-authenticate'), /^Bearer/);
});

t.test('every sign-in failure is the same 401', async (t) => {
  const { email } = await agora.signUp();
  const anonymous = agora.client();
  const wrongPassword = await anonymous.POST('/sessions', { body: { email, password: 'not the password' } });
  const unknownEmail = await anonymous.POST('/sessions', { body: { email: 'nobody@example.com', password: 'not the password' } });
  t.equal(wrongPassword.response.status, 401);
  t.equal(unknownEmail.response.status, 401);
  const strip = ({ requestId: _r, ...rest }: Record<string, unknown>) => rest;
  t.same(strip(wrongPassword.error!), strip(unknownEmail.error!), 'identical problem bodies');
  t.equal(wrongPassword.error!.type, 'urn:agora:problem:invalid-credentials');
});

t.test('expired sessions are refused and removed', async (t) => {
  const { token, account, client } = await agora.signUp();
  await agora.sql(`update accounts.session set expires_at = now() - interval '1 second' where account_id = $1`, [account.id]);
  const res = await client.GET('/sessions/me');
  t.equal(res.response.status, 401);
  t.match(res.response.headers.get('www-authenticate'), /invalid_token/);
  t.match(res.error!.detail, /expired/);
  t.equal((await agora.sql('select 1 from accounts.session where account_id = $1', [account.id])).length, 0);
  t.ok(token);
});

t.test('idle sessions expire too', async (t) => {
  const { account, client } = await agora.signUp();
  await agora.sql(`update accounts.session set last_used_at = now() - interval '8 days' where account_id = $1`, [account.id]);
  const res = await client.GET('/sessions/me');
  t.equal(res.response.status, 401);
});

t.test('a missing, malformed or unknown token is a 401 with WWW-Authenticate', async (t) => {
  for (const authorization of [undefined, 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer agora_nope', `Bearer agora_${'A'.repeat(43)}`]) {
    const res = await agora.raw('GET', '/v1/sessions/me', { headers: authorization ? { authorization } : {} });
    t.equal(res.status, 401, `authorization: ${authorization}`);
    t.match(res.headers.get('www-authenticate'), /^Bearer/);
    t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  }
});

t.test('unwrap throws typed problems', async (t) => {
  const anonymous = agora.client();
  const error = await unwrap(anonymous.GET('/sessions/me')).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof AuthenticationError, 'an AuthenticationError');
  t.ok(error instanceof AgoraError, 'which is an AgoraError');
  t.match(error, { name: 'AuthenticationError', status: 401, type: 'urn:agora:problem:unauthenticated' });
});

t.test('a session deleted in the database stops working at once, cached or not', async (t) => {
  const { account, client } = await agora.signUp();
  t.equal((await client.GET('/sessions/me')).response.status, 200);
  const before = await agora.scrape();
  t.equal((await client.GET('/sessions/me')).response.status, 200);
  t.equal(delta(before, await agora.scrape(), 'agora_cache_lookups_total', { cache: 'sessions', outcome: 'hit' }), 1, 'served from the cache');
  await agora.sql('delete from accounts.session where account_id = $1', [account.id]);
  t.equal((await client.GET('/sessions/me')).response.status, 401);
});

t.test('closing the account ends its cached sessions at once', async (t) => {
  const { account, client, token } = await agora.signUp();
  t.equal((await client.GET('/sessions/me')).response.status, 200);
  t.equal((await client.DELETE('/accounts/{accountId}', { params: { path: { accountId: account.id } } })).response.status, 204);
  const after = await agora.raw('GET', '/v1/sessions/me', { headers: { authorization: `Bearer ${token}` } });
  t.equal(after.status, 401);
});

t.test('when the invalidation listener loses its connection, the caches start empty again once it is back', async (t) => {
  const { account, client } = await agora.signUp();
  await client.GET('/sessions/me');
  const cached = await agora.statementsDuring(() => client.GET('/sessions/me'));
  t.notOk(cached.statements.some((s) => /\baccounts"?\."?session\b/.test(s)), 'cached before');

  const [killed] = await agora.sql<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = 'agora-invalidations' and datname = current_database()`,
  );
  t.ok(killed, 'the listener has its own connection');
  await agora.sql('select pg_terminate_backend($1)', [killed!.pid]);
  await eventually('the listener to report itself down and up again', async () => {
    const lines = agora.logs.filter((l) => /cache invalidation listener lost its connection/.test(l.msg ?? ''));
    if (lines.length === 0) return undefined;
    const scrape = await agora.scrape();
    return total(scrape, 'agora_cache_invalidation_listener_up') === 1 ? true : undefined;
  });
  const [again] = await agora.sql<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = 'agora-invalidations' and datname = current_database()`,
  );
  t.ok(again && again.pid !== killed!.pid, 'it reconnected on a new connection');

  const after = await agora.statementsDuring(() => client.GET('/sessions/me'));
  t.equal(after.result.response.status, 200);
  t.ok(after.statements.some((s) => /\baccounts"?\."?session\b/.test(s)), 'the session was read again: a notification may have been missed');
  await agora.sql('delete from accounts.session where account_id = $1', [account.id]);
  t.equal((await client.GET('/sessions/me')).response.status, 401, 'and sign-out by hand works at once again');
});

t.test('one statement that ends hundreds of cached sessions ends every one of them (notifications are chunked)', async (t) => {
  const { account } = await agora.signUp();
  const tokens = Array.from({ length: 450 }, () => `agora_${randomBytes(32).toString('base64url')}`);
  await agora.sql(
    `insert into accounts.session (id, account_id, token_hash, created_at, last_used_at, expires_at)
     select gen_random_uuid(), $1, h, now(), now(), now() + interval '1 day' from unnest($2::text[]) as h`,
    [account.id, tokens.map((token) => createHash('sha256').update(token).digest('hex'))],
  );
  const me = (token: string) => agora.raw('GET', '/v1/sessions/me', { headers: { authorization: `Bearer ${token}` } });
  for (const token of tokens) await me(token); // now cached
  const before = await agora.scrape();
  for (const token of tokens.slice(0, 20)) t.equal((await me(token)).status, 200);
  t.equal(delta(before, await agora.scrape(), 'agora_cache_lookups_total', { cache: 'sessions', outcome: 'hit' }), 20, 'served from the cache');

  await agora.sql('delete from accounts.session where account_id = $1', [account.id]);
  let refused = 0;
  for (const token of tokens) if ((await me(token)).status === 401) refused++;
  t.equal(refused, tokens.length, 'all 450 are refused');
});
