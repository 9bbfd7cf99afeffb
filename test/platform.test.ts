// What every request goes through regardless of the operation: docs, routing misses, request
// ids, security headers, CORS, rate limits, sign-in throttling, unexpected errors, start-up.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import type { Handlers } from '../src/handlers/index.ts';
import { buildApp } from '../src/http/app.ts';
import { startAgora, uniqueHandle, type Agora, type RawResponse } from './helpers/agora.ts';
import { spec } from './helpers/contract.ts';
import { offlineAppOptions } from './helpers/offline-app.ts';

/** A subtest, as `t.test` hands it to its callback. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const agora = await startAgora(t);
const origin = agora.baseUrl.replace(/\/v1$/, '');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JSON_TYPE = { 'content-type': 'application/json' };

function assertProblem(t: Test, res: RawResponse, status: number, type: string, instance: string): void {
  t.equal(res.status, status, 'status');
  t.match(res.headers.get('content-type'), /^application\/problem\+json\b/, 'problem content type');
  t.equal(res.json?.type, type, 'problem type');
  t.equal(res.json?.status, status, 'status in the body');
  t.match(res.json?.title, /\S/, 'a title');
  t.equal(res.json?.instance, instance, 'instance is the path');
  t.equal(res.json?.requestId, res.headers.get('x-request-id'), 'requestId is the X-Request-Id header');
}

/** Creates an account without signing in (sign-ins count against the sign-in limits). */
async function createAccount(server: Agora) {
  const handle = uniqueHandle('plat');
  const email = `${handle.toLowerCase()}@example.com`;
  const password = 'correct horse battery staple';
  const { data, response } = await server.client().POST('/accounts', { body: { email, password, handle, displayName: `User ${handle}` } });
  if (response.status !== 201 || !data) throw new Error(`sign-up failed with ${response.status}`);
  return { account: data, email, password };
}

function signIn(server: Agora, email: string, password: string) {
  return server.raw('POST', '/v1/sessions', { headers: JSON_TYPE, body: JSON.stringify({ email, password }) });
}

t.test('the contract and its reference are served by the server', async (t) => {
  await t.test('GET /openapi.yaml is the file, byte for byte', async (t) => {
    const res = await fetch(`${origin}/openapi.yaml`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^application\/(x-)?yaml\b/);
    const served = Buffer.from(await res.arrayBuffer());
    t.ok(served.equals(readFileSync(new URL('../openapi.yaml', import.meta.url))), 'the same bytes as openapi.yaml');
  });

  await t.test('GET /openapi.json is the same document', async (t) => {
    const res = await fetch(`${origin}/openapi.json`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^application\/json\b/);
    const document = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'));
    t.same(await res.json(), document);
  });

  await t.test('GET /docs is a page whose script comes from this server', async (t) => {
    const res = await fetch(`${origin}/docs`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/html\b/);
    const html = await res.text();
    const sources = [...html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!);
    t.ok(sources.length > 0, 'the page loads a script');
    for (const src of sources) {
      t.notMatch(src, /^(https?:)?\/\//i, `${src} is local`);
      const script = await fetch(new URL(src, res.url));
      t.equal(script.status, 200, `${src} is served`);
      t.match(script.headers.get('content-type'), /javascript/, `${src} is JavaScript`);
      t.ok((await script.text()).length > 1000, `${src} has a body`);
    }
    t.notMatch(html, /jsdelivr|unpkg|cdnjs|cdn\.|googleapis|fonts\.gstatic/i, 'no CDN host in the page');
    t.match(html, /\/openapi\.json/, 'the page reads the contract from this server');
  });

  await t.test('an unknown path under /docs is a problem 404, like any other', async (t) => {
    const res = await agora.raw('GET', '/docs/nope');
    assertProblem(t, res, 404, 'urn:agora:problem:not-found', '/docs/nope');
  });
});

t.test('routing misses are problems', async (t) => {
  await t.test('an unknown route is a 404', async (t) => {
    const res = await agora.raw('GET', '/v1/nope');
    assertProblem(t, res, 404, 'urn:agora:problem:not-found', '/v1/nope');
  });

  await t.test('a wrong method on a known path is a 405 with Allow', async (t) => {
    const res = await agora.raw('PUT', '/v1/sessions/me', { headers: JSON_TYPE, body: '{}' });
    assertProblem(t, res, 405, 'urn:agora:problem:method-not-allowed', '/v1/sessions/me');
    const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    for (const method of ['GET', 'DELETE', 'OPTIONS']) t.ok(allow.includes(method), `Allow lists ${method}`);
    t.notOk(allow.includes('PUT'), 'Allow does not list PUT');
    t.notOk(allow.includes('POST'), 'Allow does not list POST');
  });

  await t.test('a wrong method on a path with a parameter is a 405 too', async (t) => {
    const path = '/v1/accounts/01900000-0000-7000-8000-000000000000';
    const res = await agora.raw('POST', path, { headers: JSON_TYPE, body: '{}' });
    assertProblem(t, res, 405, 'urn:agora:problem:method-not-allowed', path);
    const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    for (const method of ['GET', 'PATCH', 'DELETE', 'OPTIONS']) t.ok(allow.includes(method), `Allow lists ${method}`);
    t.notOk(allow.includes('POST'), 'Allow does not list POST');
  });
});

t.test('request ids', async (t) => {
  await t.test('a sane X-Request-Id is echoed, used in problems and logged', async (t) => {
    const id = `client-${uniqueHandle('rid')}.1:2`;
    const res = await agora.raw('GET', '/v1/sessions/me', { headers: { 'x-request-id': id } });
    t.equal(res.status, 401);
    t.equal(res.headers.get('x-request-id'), id, 'echoed');
    t.equal(res.json.requestId, id, 'in the problem body');
    const lines = agora.logs.filter((l) => l.requestId === id);
    t.equal(lines.length, 1, 'the request was logged under that id, in one line');
    t.match(lines[0], { msg: 'request completed', status: 401, operation: 'getCurrentSession' }, 'with its outcome');
  });

  await t.test('a successful response carries it too', async (t) => {
    const id = `ok-${uniqueHandle('rid')}`;
    const res = await agora.raw('GET', '/v1/accounts', { headers: { 'x-request-id': id } });
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-request-id'), id);
  });

  for (const [what, insane] of [
    ['300 characters', 'r'.repeat(300)],
    ['spaces', 'has some spaces'],
    ['a newline-free injection attempt', 'abc"},{"level":60'],
    ['slashes', '../../etc/passwd'],
  ] as const) {
    await t.test(`an X-Request-Id with ${what} is replaced by a UUID`, async (t) => {
      const res = await agora.raw('GET', '/v1/sessions/me', { headers: { 'x-request-id': insane } });
      const id = res.headers.get('x-request-id');
      t.match(id, UUID, 'a generated UUID');
      t.not(id, insane);
      t.equal(res.json.requestId, id, 'the problem names the generated id');
      t.ok(agora.logs.some((l) => l.requestId === id), 'logged under the generated id');
      t.notOk(agora.logs.some((l) => l.requestId === insane), 'never logged under the one sent');
    });
  }

  await t.test('every request gets its own id', async (t) => {
    const a = await agora.raw('GET', '/v1/accounts');
    const b = await agora.raw('GET', '/v1/accounts');
    t.match(a.headers.get('x-request-id'), UUID);
    t.match(b.headers.get('x-request-id'), UUID);
    t.not(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });
});

t.test('security headers and secrets in logs', async (t) => {
  await t.test('API responses carry nosniff and a locked-down CSP', async (t) => {
    const responses = [
      await agora.raw('GET', '/v1/accounts'),
      await agora.raw('GET', '/v1/nope'),
      await agora.raw('GET', '/v1/accounts?limit=abc'),
      await agora.raw('OPTIONS', '/v1/accounts'),
    ];
    t.same(responses.map((r) => r.status), [200, 404, 400, 204]);
    for (const res of responses) {
      t.equal(res.headers.get('x-content-type-options'), 'nosniff');
      t.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'");
      t.equal(res.headers.get('cross-origin-resource-policy'), 'same-site');
      t.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
      t.equal(res.headers.get('referrer-policy'), 'no-referrer');
      t.equal(res.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains');
      t.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
      t.equal(res.headers.get('x-powered-by'), null);
    }
  });

  await t.test('tokens and passwords never reach the log', async (t) => {
    const { token, password } = await agora.signUp({ password: 'a very secret passphrase 123' });
    const me = await agora.raw('GET', '/v1/sessions/me', { headers: { authorization: `Bearer ${token}` } });
    t.equal(me.status, 200);
    const forged = `agora_${'Z'.repeat(43)}`;
    const bad = await agora.raw('GET', '/v1/sessions/me', { headers: { authorization: `Bearer ${forged}` } });
    t.equal(bad.status, 401);
    for (const res of [me, bad]) {
      t.ok(agora.logs.some((l) => l.requestId === res.headers.get('x-request-id')), 'the request was logged');
    }
    const logged = agora.logs.map((l) => JSON.stringify(l)).join('\n');
    t.notOk(logged.includes(token), 'the session token is not logged');
    t.notOk(logged.includes(token.slice('agora_'.length)), 'not even without its prefix');
    t.notOk(logged.includes(forged), 'a forged token is not logged');
    t.notOk(logged.includes(password), 'the password is not logged');
    t.notMatch(logged, /bearer/i, 'no Authorization header value is logged');
  });
});

t.test('CORS only for the configured origins', async (t) => {
  const cors = await startAgora(t, { CORS_ORIGINS: 'https://app.example' });

  await t.test('a preflight from an allowed origin is answered', async (t) => {
    const res = await cors.raw('OPTIONS', '/v1/accounts', {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    t.equal(res.status, 204);
    t.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
    t.match(res.headers.get('access-control-allow-methods'), /\bPOST\b/);
    t.match(res.headers.get('access-control-allow-headers'), /content-type/i);
    t.match(res.headers.get('vary'), /origin/i);
  });

  await t.test('a preflight allows every method the contract declares for its path, and its headers', async (t) => {
    const id = '01900000-0000-7000-8000-000000000000';
    for (const [template, item] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
      const path = `/v1${template.replace(/\{[^}]+\}/g, id)}`;
      for (const method of Object.keys(item).filter((m) => ['get', 'put', 'post', 'patch', 'delete'].includes(m))) {
        const res = await cors.raw('OPTIONS', path, {
          headers: { origin: 'https://app.example', 'access-control-request-method': method.toUpperCase() },
        });
        t.equal(res.status, 204, `preflight for ${method.toUpperCase()} ${template}`);
        const allowed = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim());
        t.ok(allowed.includes(method.toUpperCase()), `${method.toUpperCase()} ${template} is allowed (${allowed.join(', ')})`);
      }
    }
    const join = await cors.raw('OPTIONS', `/v1/channels/${id}/members/${id}`, {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization, if-match, idempotency-key' },
    });
    const allowedHeaders = (join.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',').map((h) => h.trim());
    for (const header of ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'x-request-id']) {
      t.ok(allowedHeaders.includes(header), `${header} may be sent`);
    }
    const actual = await cors.raw('GET', '/v1/accounts', { headers: { origin: 'https://app.example' } });
    const exposed = (actual.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(',').map((h) => h.trim());
    for (const header of ['etag', 'location', 'ratelimit', 'ratelimit-policy', 'retry-after', 'allow', 'idempotent-replayed', 'www-authenticate', 'x-request-id']) {
      t.ok(exposed.includes(header), `${header} may be read`);
    }
  });

  await t.test('a preflight from another origin is not', async (t) => {
    const res = await cors.raw('OPTIONS', '/v1/accounts', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    t.equal(res.status, 204);
    t.equal(res.headers.get('access-control-allow-origin'), null);
    t.equal(res.headers.get('access-control-allow-methods'), null);
  });

  await t.test('a plain OPTIONS reaches the API', async (t) => {
    const res = await cors.raw('OPTIONS', '/v1/accounts');
    t.equal(res.status, 204);
    t.equal(res.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
    t.equal(res.headers.get('access-control-allow-origin'), null);
  });

  await t.test('actual requests: allowed origin gets the headers, others do not', async (t) => {
    const allowed = await cors.raw('GET', '/v1/accounts', { headers: { origin: 'https://app.example' } });
    t.equal(allowed.status, 200);
    t.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
    t.match(allowed.headers.get('access-control-expose-headers'), /x-request-id/i);
    const evil = await cors.raw('GET', '/v1/accounts', { headers: { origin: 'https://evil.example' } });
    t.equal(evil.status, 200);
    t.equal(evil.headers.get('access-control-allow-origin'), null);
    const lookalike = await cors.raw('GET', '/v1/accounts', { headers: { origin: 'https://app.example.evil.example' } });
    t.equal(lookalike.headers.get('access-control-allow-origin'), null);
  });
});

t.test('rate limiting', async (t) => {
  const limited = await startAgora(t, { RATE_LIMIT_PER_MINUTE: '5' });
  const requests: [string, string, number][] = [
    ['GET', '/v1/accounts', 200],
    ['GET', '/v1/nope', 404],
    ['GET', '/v1/accounts?limit=abc', 400],
    ['OPTIONS', '/v1/accounts', 204],
    ['GET', '/v1/sessions/me', 401],
  ];
  for (const [i, [method, path, status]] of requests.entries()) {
    const res = await limited.raw(method, path);
    t.equal(res.status, status, `${method} ${path}`);
    const quota = /^"default";r=(\d+);t=(\d+)$/.exec(res.headers.get('ratelimit') ?? '');
    t.ok(quota, `RateLimit on ${method} ${path}`);
    t.equal(Number(quota?.[1]), 4 - i, 'RateLimit counts down');
    t.ok(Number(quota?.[2]) >= 1 && Number(quota?.[2]) <= 60, 'RateLimit t is within the window');
    t.equal(res.headers.get('ratelimit-policy'), '"default";q=5;w=60');
  }
  const res = await limited.raw('GET', '/v1/accounts');
  assertProblem(t, res, 429, 'urn:agora:problem:rate-limited', '/v1/accounts');
  const retryAfter = res.headers.get('retry-after');
  t.match(retryAfter, /^[1-9]\d*$/, 'Retry-After is a positive integer');
  t.ok(Number(retryAfter) <= 60, 'within the window');
  t.match(res.headers.get('ratelimit'), /^"default";r=0;t=\d+$/, 'the 429 reports the quota too');
  t.equal(res.headers.get('ratelimit-policy'), '"default";q=5;w=60');

  const other = await limited.raw('POST', '/v1/sessions', { headers: JSON_TYPE, body: '{}' });
  t.equal(other.status, 429, 'the limit is per address, whatever the path');
  const elsewhere = await agora.raw('GET', '/v1/accounts');
  t.equal(elsewhere.status, 200, 'another server is unaffected');
});

t.test('sign-in throttling per account', async (t) => {
  const server = await startAgora(t, { SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES: '3' });
  const target = await createAccount(server);
  const bystander = await createAccount(server);
  for (let i = 1; i <= 3; i++) {
    const res = await signIn(server, target.email, `wrong password ${i}`);
    t.equal(res.status, 401, `failed attempt ${i}`);
  }
  const blocked = await signIn(server, target.email.toUpperCase(), target.password);
  assertProblem(t, blocked, 429, 'urn:agora:problem:rate-limited', '/v1/sessions');
  t.match(blocked.headers.get('retry-after'), /^[1-9]\d*$/);
  t.ok(Number(blocked.headers.get('retry-after')) <= 15 * 60, 'within 15 minutes');
  t.same(await server.sql('select 1 from accounts.session where account_id = $1', [target.account.id]), [], 'no session was created');

  const other = await signIn(server, bystander.email, bystander.password);
  t.equal(other.status, 201, 'another account is unaffected');
});

t.test('sign-in throttling per address', async (t) => {
  const server = await startAgora(t, { SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE: '3' });
  const real = await createAccount(server);
  for (let i = 1; i <= 3; i++) {
    const res = await signIn(server, `nobody${i}@example.com`, 'not the password');
    t.equal(res.status, 401, `attempt ${i} for another email`);
  }
  const blocked = await signIn(server, real.email, real.password);
  assertProblem(t, blocked, 429, 'urn:agora:problem:rate-limited', '/v1/sessions');
  t.match(blocked.headers.get('retry-after'), /^[1-9]\d*$/);
  t.ok(Number(blocked.headers.get('retry-after')) <= 60, 'within the minute');
  t.equal(await server.count('accounts.session'), 0, 'no session was created');
  const list = await server.raw('GET', '/v1/accounts');
  t.equal(list.status, 200, 'other operations are not throttled');
});

t.test('sign-up throttling per address: a taken email answers 409, but only so many times', async (t) => {
  const server = await startAgora(t, { SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR: '3' });
  const signUp = (email: string) => {
    const handle = uniqueHandle('signup');
    return server.raw('POST', '/v1/accounts', {
      headers: JSON_TYPE,
      body: JSON.stringify({ email, password: 'correct horse battery staple', handle, displayName: 'Someone' }),
    });
  };
  const refused = await server.raw('POST', '/v1/accounts', { headers: JSON_TYPE, body: JSON.stringify({ email: 'not an email' }) });
  t.equal(refused.status, 400, 'a request the schema refuses ...');
  const first = await signUp(`${uniqueHandle('a').toLowerCase()}@example.com`);
  t.equal(first.status, 201, '... does not count');
  const taken = await signUp(first.json.email.toUpperCase());
  t.equal(taken.status, 409, 'a taken email says so');
  t.same(taken.json.errors?.map((e: { pointer: string }) => e.pointer), ['/email']);
  const second = await signUp(`${uniqueHandle('b').toLowerCase()}@example.com`);
  t.equal(second.status, 201);
  const accounts = await server.count('accounts.account');

  // The fourth attempt from this address within the hour, whether the email is taken or not.
  for (const email of [first.json.email, `${uniqueHandle('c').toLowerCase()}@example.com`]) {
    const blocked = await signUp(email);
    assertProblem(t, blocked, 429, 'urn:agora:problem:rate-limited', '/v1/accounts');
    t.match(blocked.headers.get('retry-after'), /^[1-9]\d*$/);
    t.ok(Number(blocked.headers.get('retry-after')) <= 3600, 'within the hour');
    t.notMatch(blocked.json.detail, /exists|taken/, 'the answer does not say whether the email is registered');
  }
  t.equal(await server.count('accounts.account'), accounts, 'nothing was created');
  const signIn = await server.raw('POST', '/v1/sessions', { headers: JSON_TYPE, body: JSON.stringify({ email: first.json.email, password: 'correct horse battery staple' }) });
  t.equal(signIn.status, 201, 'other operations are not throttled');
});

t.test('Cache-Control: nothing signed in or personal is cacheable; anonymous reads only with Vary: Authorization', async (t) => {
  const me = await agora.signUp();
  const auth = { authorization: `Bearer ${me.token}` };
  const varies = (res: RawResponse) => (res.headers.get('vary') ?? '').split(',').map((v) => v.trim().toLowerCase());
  const unknown = '01900000-0000-7000-8000-000000000000';

  await t.test('signed-in responses are private, no-store, whatever their status', async (t) => {
    const cases: [string, string, Record<string, string>, number][] = [
      ['GET', '/v1/sessions/me', auth, 200],
      ['GET', `/v1/accounts/${me.account.id}`, auth, 200],
      ['GET', '/v1/accounts', auth, 200],
      ['OPTIONS', `/v1/accounts/${me.account.id}`, auth, 204],
      ['GET', `/v1/accounts/${unknown}`, auth, 404],
      ['GET', '/v1/accounts?limit=0', auth, 400],
      ['GET', '/v1/sessions/me', { authorization: 'Bearer not-a-session' }, 401],
      ['GET', `/v1/accounts/${me.account.id}`, { authorization: 'Bearer not-a-session' }, 401],
    ];
    for (const [method, path, headers, status] of cases) {
      const res = await agora.raw(method, path, { headers });
      t.equal(res.status, status, `${method} ${path} → ${status}`);
      t.equal(res.headers.get('cache-control'), 'private, no-store', `${method} ${path} → ${status} is private, no-store`);
    }
    const sessions = await agora.raw('GET', '/v1/sessions/me', { headers: auth });
    t.equal(sessions.json.email, me.email, 'GET /sessions/me is personal: it has the email');
  });

  await t.test('a 304 to a signed-in request is private too', async (t) => {
    const first = await agora.raw('GET', `/v1/accounts/${me.account.id}`, { headers: auth });
    const again = await agora.raw('GET', `/v1/accounts/${me.account.id}`, { headers: { ...auth, 'if-none-match': first.headers.get('etag')! } });
    t.equal(again.status, 304);
    t.equal(again.headers.get('cache-control'), 'private, no-store');
  });

  await t.test('an anonymous read is public but revalidated, and varies by Authorization (200, HEAD, 304)', async (t) => {
    const read = await agora.raw('GET', `/v1/accounts/${me.account.id}`);
    t.equal(read.status, 200);
    t.equal(read.json.email, undefined, 'no personal data');
    t.equal(read.headers.get('cache-control'), 'no-cache');
    t.ok(varies(read).includes('authorization'), `Vary: ${read.headers.get('vary')}`);
    const head = await agora.raw('HEAD', `/v1/accounts/${me.account.id}`);
    t.equal(head.headers.get('cache-control'), 'no-cache');
    t.ok(varies(head).includes('authorization'));
    const again = await agora.raw('GET', `/v1/accounts/${me.account.id}`, { headers: { 'if-none-match': read.headers.get('etag')! } });
    t.equal(again.status, 304);
    t.equal(again.headers.get('cache-control'), 'no-cache', 'a 304 says what the 200 said');
    t.ok(varies(again).includes('authorization'));
  });

  await t.test('Vary keeps what compression adds', async (t) => {
    for (let i = 0; i < 10; i++) await agora.signUp();
    const res = await agora.raw('GET', '/v1/accounts?limit=20', { headers: { 'accept-encoding': 'gzip' } });
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-encoding'), 'gzip', 'the list is large enough to be compressed');
    t.ok(varies(res).includes('accept-encoding'), `Vary: ${res.headers.get('vary')}`);
    t.ok(varies(res).includes('authorization'), `Vary: ${res.headers.get('vary')}`);
  });

  await t.test('other anonymous responses are not stored: sign-up (it has the email), sign-in, problems', async (t) => {
    const handle = uniqueHandle('cache');
    const signUp = await agora.raw('POST', '/v1/accounts', {
      headers: JSON_TYPE,
      body: JSON.stringify({ email: `${handle.toLowerCase()}@example.com`, password: 'correct horse battery staple', handle, displayName: 'Cache' }),
    });
    t.equal(signUp.status, 201);
    t.equal(signUp.json.email, `${handle.toLowerCase()}@example.com`);
    t.equal(signUp.headers.get('cache-control'), 'no-store');
    const signIn = await agora.raw('POST', '/v1/sessions', { headers: JSON_TYPE, body: JSON.stringify({ email: me.email, password: me.password }) });
    t.equal(signIn.status, 201);
    t.equal(signIn.headers.get('cache-control'), 'no-store');
    for (const [path, status] of [[`/v1/accounts/${unknown}`, 404], ['/v1/sessions/me', 401], ['/v1/accounts?limit=0x10', 400], ['/v1/nowhere', 404]] as const) {
      const res = await agora.raw('GET', path);
      t.equal(res.status, status, path);
      t.equal(res.headers.get('cache-control'), 'no-store', `${path} → ${status}`);
    }
  });
});

t.test('an unexpected error is a 500 that reveals nothing and is logged in full', async (t) => {
  const broken = await startAgora(t);
  const { account } = await createAccount(broken);
  const before = await broken.raw('GET', `/v1/accounts/${account.id}`);
  t.equal(before.status, 200, 'works before the database breaks');

  await broken.sql('alter table accounts.account rename to account_gone');
  const res = await broken.raw('GET', `/v1/accounts/${account.id}`);
  assertProblem(t, res, 500, 'urn:agora:problem:internal-error', `/v1/accounts/${account.id}`);
  for (const leak of ['account_gone', 'accounts.', 'select', ' at ', 'relation', 'node_modules', '.ts:']) {
    t.notOk(res.text.toLowerCase().includes(leak.toLowerCase()), `the body does not mention ${JSON.stringify(leak)}`);
  }
  t.same(Object.keys(res.json).sort(), ['detail', 'instance', 'requestId', 'status', 'title', 'type'], 'only the problem fields');

  const errors = broken.logs.filter((l) => l.level === 50 && l.requestId === res.json.requestId);
  t.ok(errors.length >= 1, 'an error-level line with the requestId');
  t.ok(errors.some((l) => typeof l.err?.stack === 'string' && / at /.test(l.err.stack)), 'with a stack');
});

t.test('start-up refuses a spec operation without a handler', async (t) => {
  const complete = await buildApp(offlineAppOptions());
  t.ok(complete, 'every handler present: the app builds');
  await complete.close();

  const withoutGetAccount = (all: Handlers) => {
    const handlers = { ...all } as Partial<Handlers>;
    delete handlers.getAccount;
    return handlers as Handlers;
  };
  await t.rejects(buildApp(offlineAppOptions(withoutGetAccount)), /getAccount/, 'the error names the missing operation');
});

t.test('URLs Fastify cannot route are problems, not framework errors', async (t) => {
  const agora = await startAgora(t);
  for (const path of [`/v1/accounts/${'a'.repeat(300)}`, '/v1/accounts/%E0%A4%A']) {
    const res = await agora.raw('GET', path);
    t.equal(res.status, 400, path.slice(0, 40));
    t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    t.equal(res.json.type, 'urn:agora:problem:malformed-request');
    t.equal(res.json.requestId, res.headers.get('x-request-id'));
  }
});
