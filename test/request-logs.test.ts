import { request as httpRequest } from 'node:http';
import t from 'tap';
import { startAgora } from './helpers/agora.ts';
import { eventually, lockRows, waitForLockWaiters } from './helpers/locks.ts';
import { delta, total } from './helpers/metrics.ts';

const agora = await startAgora(t);

const linesOf = (requestId: string | null) => agora.logs.filter((l) => l.requestId === requestId && /^request (completed|aborted)/.test(l.msg));

t.test('starting logs no warning: the contract binds cleanly (no "ContentTypeParser not found" for response media types)', async (t) => {
  const warnings = agora.logs.filter((line) => line.level >= 40 && line.time <= (agora.logs.find((l) => l.msg === 'request completed')?.time ?? Infinity));
  t.same(warnings.map((line) => line.msg), [], 'no warning or error before the first request');
});

t.test('one line per request: operation, route, status, latency, bytes, requestId, account, idempotency key', async (t) => {
  const { account, token } = await agora.signUp();

  const created = await agora.raw('POST', '/v1/accounts', {
    headers: { 'content-type': 'application/json', 'idempotency-key': 'signup-7f3a', 'x-request-id': 'client-chosen.id:42' },
    body: JSON.stringify({ email: 'logged@example.com', password: 'a password of some length', handle: 'logged_one', displayName: 'Logged' }),
  });
  t.equal(created.status, 201);
  t.equal(created.headers.get('x-request-id'), 'client-chosen.id:42', 'a sane X-Request-Id is taken and echoed');
  const [signUpLine, ...more] = linesOf('client-chosen.id:42') as [Record<string, any>, ...Record<string, any>[]];
  t.equal(more.length, 0, 'exactly one line for the request');
  t.match(signUpLine, {
    level: 30,
    msg: 'request completed',
    method: 'POST',
    path: '/v1/accounts',
    route: '/v1/accounts',
    operation: 'createAccount',
    status: 201,
    idempotencyKey: 'signup-7f3a',
    httpVersion: '1.1',
    bytesOut: Buffer.byteLength(created.text),
  });
  t.type(signUpLine.latencyMs, 'number');
  t.ok(signUpLine.latencyMs > 0);
  t.notOk('accountId' in signUpLine, 'no account when nobody is signed in');

  const quoted = await agora.raw('POST', '/v1/accounts', {
    headers: { 'content-type': 'application/json', 'idempotency-key': '"quoted-key-1"', 'x-request-id': 'quoted-key-request' },
    body: JSON.stringify({ email: 'quoted@example.com', password: 'a password of some length', handle: 'quoted_one', displayName: 'Quoted' }),
  });
  t.equal(quoted.status, 201);
  t.match(linesOf('quoted-key-request'), [{ idempotencyKey: 'quoted-key-1', status: 201 }], 'the key as the server understood it');

  const read = await agora.raw('GET', `/v1/accounts/${account.id}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'not sane: has spaces' } });
  t.equal(read.status, 200);
  const generated = read.headers.get('x-request-id');
  t.match(generated, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'an insane X-Request-Id is replaced by a generated one');
  const [readLine, ...others] = linesOf(generated);
  t.equal(others.length, 0);
  t.match(readLine, { operation: 'getAccount', route: '/v1/accounts/:accountId', path: `/v1/accounts/${account.id}`, status: 200, accountId: account.id });

  const invalid = await agora.raw('GET', '/v1/accounts?limit=0');
  t.equal(invalid.status, 400);
  t.match(linesOf(invalid.headers.get('x-request-id')), [{ operation: 'listAccounts', status: 400, problem: 'validation-error', path: '/v1/accounts' }]);

  const missing = await agora.raw('GET', '/v1/no/such/thing?x=1');
  t.equal(missing.status, 404);
  t.match(linesOf(missing.headers.get('x-request-id')), [{ operation: 'unmatched', status: 404, problem: 'not-found', path: '/v1/no/such/thing' }]);
  t.notOk(linesOf(missing.headers.get('x-request-id'))[0]!.route, 'no route template for an unmatched path');

  t.equal(agora.logs.filter((l) => l.msg === 'incoming request').length, 0, "Fastify's own per-request lines are off");
});

t.test('URLs that Fastify cannot route are logged and counted too', async (t) => {
  const before = await agora.scrape();
  const res = await agora.raw('GET', `/v1/accounts/${'a'.repeat(300)}`, { headers: { 'x-request-id': 'overlong-path' } });
  t.equal(res.status, 400);
  t.match(linesOf('overlong-path'), [{ status: 400, problem: 'malformed-request', operation: 'unmatched', bytesOut: Buffer.byteLength(res.text) }]);
  t.equal(linesOf('overlong-path').length, 1);
  const after = await agora.scrape();
  t.equal(
    delta(before, after, 'agora_http_error_responses_total', { operation: 'unmatched', status: '400', type: 'malformed-request' }),
    1,
  );
  t.equal(total(after, 'agora_http_requests_in_flight'), 0);
});

t.test('no password, token, cookie or Authorization value ever reaches the log', async (t) => {
  const password = 'Sekr1t-Pa55word-that-must-not-leak';
  const { email, token } = await agora.signUp({ password });
  await agora.raw('POST', '/v1/sessions', {
    headers: { 'content-type': 'application/json', cookie: 'sid=cookie-value-that-must-not-leak' },
    body: JSON.stringify({ email, password }),
  });
  await agora.raw('POST', '/v1/sessions', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: `${password}-wrong` }),
  });
  await agora.raw('POST', '/v1/sessions', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, extra: 'field makes this a 400' }),
  });
  await agora.raw('GET', '/v1/sessions/me', { headers: { authorization: `Bearer ${token}`, cookie: 'sid=cookie-value-that-must-not-leak' } });
  await agora.raw('GET', '/v1/sessions/me', { headers: { authorization: 'Basic dXNlcjpzZWNyZXQtYmFzaWM=' } });
  await agora.raw('DELETE', '/v1/sessions/me', { headers: { authorization: `Bearer ${token}` } });

  const everything = agora.logs.map((l) => JSON.stringify(l)).join('\n');
  t.ok(agora.logs.length > 6);
  t.notOk(everything.includes(password), 'no password');
  t.notOk(everything.includes(token), 'no token');
  t.notOk(everything.includes(token.slice('agora_'.length)), 'not even part of a token');
  t.notOk(everything.includes('cookie-value-that-must-not-leak'), 'no cookie');
  t.notOk(everything.includes('dXNlcjpzZWNyZXQtYmFzaWM='), 'no Authorization value');
  t.notOk(/authorization|set-cookie/i.test(everything), 'no header of that name at all');
});

t.test('a secret logged by mistake is censored wherever it sits; the rest of the line is kept', async (t) => {
  const log = agora.app.log;
  const mark = (msg: string) => agora.logs.find((l) => l.msg === msg) as Record<string, any>;
  log.info({ input: { email: 'kept@example.com', password: 'pw-nested-1' }, count: 3 }, 'nested password');
  log.info({ input: { token: 'tk-nested-2' } }, 'nested token');
  log.info({ password: 'pw-top-3', token: 'tk-top-4' }, 'top-level secrets');
  log.info({ body: { anything: 'body-5' } }, 'a body');
  log.info({ headers: { authorization: 'Bearer tk-header-6', accept: 'application/json' } }, 'request headers');
  log.info({ err: Object.assign(new Error('boom'), { token: 'tk-error-7' }) }, 'an error with a token');
  log.child({ token: 'tk-binding-8', component: 'kept' }).info('a child with a secret binding');
  log.info({ input: { name: 'no secret here' }, status: 200 }, 'nothing to censor');

  const everything = agora.logs.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of ['pw-nested-1', 'tk-nested-2', 'pw-top-3', 'tk-top-4', 'body-5', 'tk-header-6', 'tk-error-7', 'tk-binding-8']) {
    t.notOk(everything.includes(secret), `${secret} is not logged`);
  }
  t.same(mark('nested password').input, { email: 'kept@example.com', password: '[redacted]' });
  t.equal(mark('nested password').count, 3);
  t.same(mark('nested token').input, { token: '[redacted]' });
  t.match(mark('top-level secrets'), { password: '[redacted]', token: '[redacted]' });
  t.equal(mark('a body').body, '[redacted]');
  t.same(mark('request headers').headers, { authorization: '[redacted]', accept: 'application/json' });
  t.match(mark('an error with a token').err, { type: 'Error', message: 'boom', token: '[redacted]' }, 'the error is still serialized as an error');
  t.match(mark('an error with a token').err.stack, /^Error: boom/);
  t.match(mark('a child with a secret binding'), { token: '[redacted]', component: 'kept' });
  t.same(mark('nothing to censor').input, { name: 'no secret here' });
  t.equal(mark('nothing to censor').status, 200);
});

t.test('an unexpected error is logged once, with its stack and the requestId; the client learns nothing', async (t) => {
  const { account } = await agora.signUp();
  // The schema drifts under the running server: every read of an account now fails in SQL.
  await agora.sql('alter table accounts.account rename column bio to bio_moved');
  let res;
  try {
    res = await agora.raw('GET', `/v1/accounts/${account.id}`);
  } finally {
    await agora.sql('alter table accounts.account rename column bio_moved to bio');
  }
  t.equal(res.status, 500);
  t.equal(res.json.type, 'urn:agora:problem:internal-error');
  t.notMatch(res.text, /select|bio|column|accounts\.account|at .*\.ts/i, 'no SQL, schema or stack in the response');
  const requestId = res.headers.get('x-request-id');
  t.equal(res.json.requestId, requestId);

  const errors = agora.logs.filter((l) => l.requestId === requestId && l.level >= 50);
  t.equal(errors.length, 1, 'logged once');
  t.equal(errors[0]!.msg, 'unexpected error');
  t.match(errors[0]!.err.stack, /\n\s+at /, 'with its stack');
  t.match(errors[0]!.err.message, /bio/);
  t.match(linesOf(requestId), [{ status: 500, problem: 'internal-error', operation: 'getAccount' }]);
});

t.test('a request the client gave up on is logged too', async (t) => {
  const { account, token } = await agora.signUp();
  const locks = await lockRows(agora.databaseUrl, 'accounts.account', [account.id]);
  t.teardown(() => locks.release());
  const url = new URL(`${agora.baseUrl}/accounts/${account.id}`);
  const req = httpRequest(url, { method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'x-request-id': 'abandoned-request-1' } });
  req.on('error', () => {}); // we hang up ourselves
  req.end();
  await waitForLockWaiters(agora.databaseUrl, 1);
  req.destroy();

  const line = await eventually('the aborted request to be logged', () => linesOf('abandoned-request-1')[0]);
  t.match(line, { msg: 'request aborted by the client', aborted: true, status: null, operation: 'deleteAccount', method: 'DELETE', accountId: account.id });
  await locks.release();
  // The deletion itself goes through once the lock is released; it is not logged a second time.
  await eventually('the account to be deleted', async () => ((await agora.sql('select 1 from accounts.account where id = $1', [account.id])).length === 0 ? true : undefined));
  t.equal(linesOf('abandoned-request-1').length, 1);
});
