import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

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
  await t.rejects(unwrap(anonymous.GET('/sessions/me')), { name: 'AgoraError', status: 401, type: 'urn:agora:problem:unauthenticated' });
});
