// Bad input to the three operations that take a body: each is refused with the problem the
// contract declares, names the offending field, and leaves the database as it was.
import t from 'tap';
import { startAgora, uniqueHandle, type Agora, type RawResponse } from './helpers/agora.ts';

/** A subtest, as `t.test` hands it to its callback. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const agora = await startAgora(t);
const owner = await agora.signUp({ displayName: 'Original Name' });

interface Endpoint {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** A body the operation accepts. */
  valid(): Record<string, unknown>;
}

function endpointsOf(server: Agora, who: { account: { id: string }; token: string; email: string; password: string }): Endpoint[] {
  return [
    {
      name: 'POST /accounts',
      method: 'POST',
      path: '/v1/accounts',
      headers: {},
      valid: () => {
        const handle = uniqueHandle('bad');
        return { email: `${handle.toLowerCase()}@example.com`, password: 'correct horse battery staple', handle, displayName: 'Someone New' };
      },
    },
    {
      name: 'POST /sessions',
      method: 'POST',
      path: '/v1/sessions',
      headers: {},
      // The owner's real credentials: anything accepted here would create a session.
      valid: () => ({ email: who.email, password: who.password }),
    },
    {
      name: 'PATCH /accounts/{id}',
      method: 'PATCH',
      path: `/v1/accounts/${who.account.id}`,
      headers: { authorization: `Bearer ${who.token}`, 'if-match': '"0"' },
      valid: () => ({ displayName: 'Changed Name', bio: 'a new bio' }),
    },
  ].map((e) => ({ ...e, server }) as Endpoint & { server: Agora });
}

const endpoints = endpointsOf(agora, owner) as (Endpoint & { server: Agora })[];
const [createAccount, createSession, updateAccount] = endpoints as [Endpoint & { server: Agora }, Endpoint & { server: Agora }, Endpoint & { server: Agora }];

/** Everything a request to these operations could change. Sessions' last use is touched by authentication, so it is left out. */
async function snapshot(server: Agora) {
  return {
    accounts: await server.sql('select * from accounts.account order by id'),
    sessions: await server.sql('select id, account_id, token_hash, created_at, expires_at from accounts.session order by id'),
  };
}

interface Expected {
  status: number;
  type: string | string[];
  /** The exact set of `errors[].pointer` values, when given. */
  pointers?: string[];
  /** Each error's detail must match this, when given. */
  detail?: RegExp;
}

function assertProblem(t: Test, res: RawResponse, path: string, expected: Expected): void {
  t.equal(res.status, expected.status, 'status');
  t.match(res.headers.get('content-type'), /^application\/problem\+json\b/, 'problem content type');
  const body = res.json as Record<string, any> | undefined;
  t.ok(body, 'a JSON problem body');
  if (!body) return;
  const types = [expected.type].flat();
  t.ok(types.includes(body.type), `type ${body.type} is one of ${types.join(', ')}`);
  t.equal(body.status, expected.status, 'status in the body');
  t.match(body.title, /\S/, 'a title');
  t.match(body.requestId, /\S/, 'a requestId');
  t.equal(body.requestId, res.headers.get('x-request-id'), 'requestId is the X-Request-Id header');
  t.equal(body.instance, path, 'instance is the path');
  if (expected.pointers) {
    const pointers = ((body.errors ?? []) as { pointer: string }[]).map((e) => e.pointer);
    t.same([...pointers].sort(), [...expected.pointers].sort(), 'one error per offending field');
  }
  if (expected.detail) {
    for (const error of (body.errors ?? []) as { detail: string }[]) t.match(error.detail, expected.detail, 'error detail');
  }
}

/** Sends `body` as is and checks the problem and that nothing in the database changed. */
async function rejects(
  t: Test,
  endpoint: Endpoint & { server: Agora },
  body: string | undefined,
  expected: Expected,
  contentType: string | undefined = 'application/json',
): Promise<RawResponse> {
  const server = endpoint.server;
  const before = await snapshot(server);
  const headers = { ...endpoint.headers, ...(contentType ? { 'content-type': contentType } : {}) };
  const res = await server.raw(endpoint.method, endpoint.path, { headers, body });
  assertProblem(t, res, endpoint.path, expected);
  t.same(await snapshot(server), before, 'the database is unchanged');
  return res;
}

const VALIDATION = { status: 400, type: 'urn:agora:problem:validation-error' };
const MALFORMED = { status: 400, type: 'urn:agora:problem:malformed-request' };
const json = (value: unknown) => JSON.stringify(value);

t.test('wrong JSON types are 400s naming the field', async (t) => {
  const typed: [Endpoint & { server: Agora }, Record<string, unknown>, string][] = [
    [createAccount, { email: 42 }, '/email'],
    [createAccount, { password: 1234567890123 }, '/password'],
    [createAccount, { handle: true }, '/handle'],
    [createAccount, { displayName: ['Ada'] }, '/displayName'],
    [createAccount, { email: null }, '/email'],
    [createAccount, { handle: null }, '/handle'],
    [createSession, { email: 42 }, '/email'],
    [createSession, { password: null }, '/password'],
    [createSession, { password: { value: 'x' } }, '/password'],
    [updateAccount, { displayName: 42 }, '/displayName'],
    [updateAccount, { displayName: null }, '/displayName'],
    [updateAccount, { bio: 7 }, '/bio'],
  ];
  for (const [endpoint, change, pointer] of typed) {
    await t.test(`${endpoint.name} ${json(change)}`, async (t) => {
      await rejects(t, endpoint, json({ ...endpoint.valid(), ...change }), { ...VALIDATION, pointers: [pointer] });
    });
  }
  for (const endpoint of endpoints) {
    for (const body of ['[]', json([endpoint.valid()]), 'null', '"a string"', '42', 'true']) {
      await t.test(`${endpoint.name} with ${body.slice(0, 20)} as the body`, async (t) => {
        await rejects(t, endpoint, body, { ...VALIDATION, pointers: [''] });
      });
    }
  }
});

t.test('unknown body properties are rejected, not stripped', async (t) => {
  await t.test('POST /accounts', async (t) => {
    const body = createAccount.valid();
    const res = await rejects(t, createAccount, json({ ...body, isAdmin: true }), { ...VALIDATION, pointers: ['/isAdmin'] });
    t.match(res.json.errors[0].detail, /not allowed/);
    t.same(await agora.sql('select 1 from accounts.account where email = $1', [body.email]), [], 'no account with that email');
    // The same body without the stranger is accepted: the property alone made it a 400.
    const ok = await agora.raw('POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: json(body) });
    t.equal(ok.status, 201, 'accepted without the unknown property');
  });
  await t.test('POST /sessions', async (t) => {
    const sessions = await agora.count('accounts.session');
    await rejects(t, createSession, json({ ...createSession.valid(), rememberMe: true }), { ...VALIDATION, pointers: ['/rememberMe'] });
    t.equal(await agora.count('accounts.session'), sessions, 'no session was created');
    const ok = await agora.raw('POST', '/v1/sessions', { headers: { 'content-type': 'application/json' }, body: json(createSession.valid()) });
    t.equal(ok.status, 201, 'accepted without the unknown property');
  });
  await t.test('PATCH /accounts/{id}', async (t) => {
    await rejects(t, updateAccount, json({ displayName: 'Changed Name', role: 'admin' }), { ...VALIDATION, pointers: ['/role'] });
    await rejects(t, updateAccount, json({ email: 'new@example.com' }), { ...VALIDATION, pointers: ['/email'] });
    await rejects(t, updateAccount, json({ version: 9 }), { ...VALIDATION, pointers: ['/version'] });
    const [row] = await agora.sql('select display_name, email, version from accounts.account where id = $1', [owner.account.id]);
    t.same(row, { display_name: 'Original Name', email: owner.email, version: 0 }, 'the profile is untouched');
  });
});

t.test('missing required fields: one error per missing field', async (t) => {
  await rejects(t, createAccount, '{}', { ...VALIDATION, pointers: ['/email', '/password', '/handle', '/displayName'], detail: /required/ });
  const { email } = createAccount.valid();
  await rejects(t, createAccount, json({ email }), { ...VALIDATION, pointers: ['/password', '/handle', '/displayName'], detail: /required/ });
  const { password: _p, ...noPassword } = createAccount.valid();
  await rejects(t, createAccount, json(noPassword), { ...VALIDATION, pointers: ['/password'], detail: /required/ });
  await rejects(t, createSession, '{}', { ...VALIDATION, pointers: ['/email', '/password'], detail: /required/ });
  await rejects(t, createSession, json({ email: owner.email }), { ...VALIDATION, pointers: ['/password'], detail: /required/ });
  await rejects(t, createSession, json({ password: owner.password }), { ...VALIDATION, pointers: ['/email'], detail: /required/ });
});

// 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254 characters, a well-formed address.
const email254 = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;
const email255 = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`;

t.test('oversize strings are 400s naming the field', async (t) => {
  t.equal(email254.length, 254);
  t.equal(email255.length, 255);
  const oversize: [Endpoint & { server: Agora }, string, string, number][] = [
    [createAccount, 'handle', 'h'.repeat(31), 30],
    [createAccount, 'displayName', 'D'.repeat(81), 80],
    [createAccount, 'email', email255, 254],
    [createAccount, 'password', 'p'.repeat(257), 256],
    [createSession, 'email', email255, 254],
    [createSession, 'password', 'p'.repeat(257), 256],
    [updateAccount, 'displayName', 'D'.repeat(81), 80],
    [updateAccount, 'bio', 'b'.repeat(501), 500],
  ];
  for (const [endpoint, field, value, max] of oversize) {
    await t.test(`${endpoint.name} ${field} of ${value.length} characters`, async (t) => {
      const body = { ...endpoint.valid(), [field]: value };
      await rejects(t, endpoint, json(body), { ...VALIDATION, pointers: [`/${field}`], detail: new RegExp(`\\b${max}\\b`) });
    });
  }

  await t.test('the longest allowed values are accepted', async (t) => {
    const body = { email: email254, password: 'p'.repeat(256), handle: uniqueHandle('max').padEnd(30, '0'), displayName: 'D'.repeat(80) };
    t.equal(body.handle.length, 30);
    const res = await agora.raw('POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: json(body) });
    t.equal(res.status, 201);
    t.equal(res.json.handle, body.handle);
  });
});

t.test('badly formatted values are 400s naming the field', async (t) => {
  const formats: [Endpoint & { server: Agora }, string, string][] = [
    [createAccount, 'email', 'ada.example.com'],
    [createAccount, 'handle', 'ada lovelace'],
    [createAccount, 'handle', 'ada-lovelace'],
    [createAccount, 'handle', 'ab'],
    [createAccount, 'displayName', '   '],
    [createAccount, 'displayName', ''],
    [createAccount, 'password', 'short'],
    [createSession, 'email', 'nobody.example.com'],
    [updateAccount, 'displayName', '   '],
    [updateAccount, 'displayName', '\t\n'],
  ];
  for (const [endpoint, field, value] of formats) {
    await t.test(`${endpoint.name} ${field} ${json(value)}`, async (t) => {
      await rejects(t, endpoint, json({ ...endpoint.valid(), [field]: value }), { ...VALIDATION, pointers: [`/${field}`] });
    });
  }
  await t.test('several bad fields are all reported', async (t) => {
    const body = { email: 'ada.example.com', password: 'correct horse battery staple', handle: 'ada-lovelace', displayName: '   ' };
    await rejects(t, createAccount, json(body), { ...VALIDATION, pointers: ['/email', '/handle', '/displayName'] });
  });
});

t.test('malformed JSON is a 400 malformed-request', async (t) => {
  for (const endpoint of endpoints) {
    for (const body of ['{"email":', "{'email': 'a@example.com'}", '{"displayName": "x"} trailing', '{"displayName": "x",}']) {
      await t.test(`${endpoint.name} ${body}`, async (t) => {
        await rejects(t, endpoint, body, MALFORMED);
      });
    }
  }
});

t.test('an empty body with a JSON content type is a 400', async (t) => {
  for (const endpoint of endpoints) {
    await t.test(endpoint.name, async (t) => {
      await rejects(t, endpoint, '', MALFORMED);
    });
  }
  await t.test('PATCH /accounts/{id} as application/merge-patch+json', async (t) => {
    await rejects(t, updateAccount, '', MALFORMED, 'application/merge-patch+json');
  });
});

t.test('no body at all (no Content-Type either) is a 400', async (t) => {
  for (const endpoint of endpoints) {
    await t.test(endpoint.name, async (t) => {
      await rejects(t, endpoint, undefined, { status: 400, type: 'urn:agora:problem:validation-error' }, '');
    });
  }
});

t.test('a body in a content type the operation does not take is a 415', async (t) => {
  for (const endpoint of endpoints) {
    const body = json(endpoint.valid());
    for (const [contentType, text] of [
      ['text/plain', body],
      ['text/plain; charset=utf-8', body],
      ['application/x-www-form-urlencoded', new URLSearchParams(endpoint.valid() as Record<string, string>).toString()],
      ['application/xml', '<account><email>a@example.com</email></account>'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@example.com\r\n--x--\r\n'],
    ] as const) {
      await t.test(`${endpoint.name} as ${contentType}`, async (t) => {
        await rejects(t, endpoint, text, { status: 415, type: 'urn:agora:problem:unsupported-media-type' }, contentType);
      });
    }
  }
  await t.test('POST /accounts does not take merge patches', async (t) => {
    await rejects(t, createAccount, json(createAccount.valid()), { status: 415, type: 'urn:agora:problem:unsupported-media-type' }, 'application/merge-patch+json');
  });
});

t.test('a body over the limit is a 413', async (t) => {
  const small = await startAgora(t, { BODY_LIMIT_BYTES: '2048' });
  const smallOwner = await small.signUp();
  const smallEndpoints = endpointsOf(small, smallOwner) as (Endpoint & { server: Agora })[];
  const filler = 'x'.repeat(4096);
  const bodies = [
    json({ ...smallEndpoints[0]!.valid(), displayName: filler }),
    json({ ...smallEndpoints[1]!.valid(), password: filler }),
    json({ bio: filler }),
  ];
  for (const [i, endpoint] of smallEndpoints.entries()) {
    await t.test(endpoint.name, async (t) => {
      t.ok(bodies[i]!.length > 4096, 'about 4 KB');
      await rejects(t, endpoint, bodies[i], { status: 413, type: 'urn:agora:problem:payload-too-large' });
    });
  }
});

t.test('unknown and wrongly typed parameters are 400s naming the parameter', async (t) => {
  const auth = { authorization: `Bearer ${owner.token}` };
  const cases: [string, Record<string, string>, string[]][] = [
    ['/v1/accounts?foo=1', {}, ['query/foo']],
    ['/v1/accounts?limit=5&includeEmail=true', {}, ['query/includeEmail']],
    ['/v1/sessions/me?foo=1', auth, ['query/foo']],
    ['/v1/accounts?limit=abc', {}, ['query/limit']],
    ['/v1/accounts?limit=0', {}, ['query/limit']],
    ['/v1/accounts?limit=101', {}, ['query/limit']],
    ['/v1/accounts?sort=handle', {}, ['query/sort']],
    ['/v1/accounts/not-a-uuid', {}, ['path/accountId']],
    [`/v1/accounts/${owner.account.id}x`, {}, ['path/accountId']],
  ];
  for (const [url, headers, pointers] of cases) {
    await t.test(url, async (t) => {
      const res = await agora.raw('GET', url, { headers });
      assertProblem(t, res, url.split('?')[0]!, { ...VALIDATION, pointers });
    });
  }
  await t.test('PATCH on a non-UUID id', async (t) => {
    const endpoint = { ...updateAccount, path: '/v1/accounts/not-a-uuid' };
    await rejects(t, endpoint, json(updateAccount.valid()), { ...VALIDATION, pointers: ['path/accountId'] });
  });
});

t.test('prototype-pollution keys are rejected and create nothing', async (t) => {
  const accepted = ['urn:agora:problem:malformed-request', 'urn:agora:problem:validation-error'];
  for (const endpoint of endpoints) {
    const valid = json(endpoint.valid()).slice(1);
    for (const key of ['"__proto__": {"x": 1}', '"constructor": {"prototype": {"x": 1}}', '"__proto__": {"isAdmin": true}']) {
      await t.test(`${endpoint.name} with ${key}`, async (t) => {
        await rejects(t, endpoint, `{${key}, ${valid}`, { status: 400, type: accepted });
      });
    }
  }
  // The server runs in this process: its parser must not have touched Object.prototype.
  t.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype is clean');
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'Object.prototype is clean');
});

t.test('deeply nested values for a string field are 400s', async (t) => {
  const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  const objects = `${'{"a":'.repeat(5_000)}"x"${'}'.repeat(5_000)}`;
  const fields: [Endpoint & { server: Agora }, string][] = [
    [createAccount, 'email'],
    [createSession, 'password'],
    [updateAccount, 'displayName'],
  ];
  for (const [endpoint, field] of fields) {
    for (const [shape, deep] of [['arrays', arrays], ['objects', objects]] as const) {
      await t.test(`${endpoint.name} ${field} as nested ${shape}`, async (t) => {
        const body = json({ ...endpoint.valid(), [field]: 'DEEP' }).replace('"DEEP"', deep);
        await rejects(t, endpoint, body, { ...VALIDATION, pointers: [`/${field}`] });
      });
    }
  }
});

t.test('a NUL character anywhere in a body is a 400 naming where it is', async (t) => {
  const cases: [Endpoint & { server: Agora }, Record<string, unknown>, string][] = [
    [createAccount, { ...createAccount.valid(), displayName: 'A\u0000B' }, '/displayName'],
    [createAccount, { ...createAccount.valid(), password: 'correct horse\u0000battery' }, '/password'],
    [createSession, { ...createSession.valid(), password: 'x\u0000y' }, '/password'],
    [updateAccount, { bio: 'line\u0000break' }, '/bio'],
  ];
  for (const [endpoint, body, pointer] of cases) {
    await t.test(`${endpoint.name} ${pointer}`, async (t) => {
      const res = await rejects(t, endpoint, json(body), VALIDATION);
      t.equal(res.json.errors[0].pointer, pointer);
    });
  }
});

t.test('integer parameters are plain decimal digits; any other spelling is a 400 naming the parameter', async (t) => {
  const cases: [string, string][] = [
    ['/v1/accounts?limit=0x10', 'query/limit'],
    ['/v1/accounts?limit=1e1', 'query/limit'],
    ['/v1/accounts?limit=%2B5', 'query/limit'],
    ['/v1/accounts?limit=5.0', 'query/limit'],
    ['/v1/accounts?limit=%205', 'query/limit'],
    ['/v1/accounts?limit=5%20', 'query/limit'],
    ['/v1/accounts?limit=', 'query/limit'],
    ['/v1/accounts?limit=0b11', 'query/limit'],
    ['/v1/accounts?limit=5&limit=0x10', 'query/limit'],
    ['/v1/accounts?page=0x2', 'query/page'],
    ['/v1/accounts?page=2e0', 'query/page'],
    [`/v1/accounts/${owner.account.id}/posts?limit=0x10`, 'query/limit'],
    ['/v1/channels?page=%2B1', 'query/page'],
  ];
  for (const [url, pointer] of cases) {
    await t.test(url, async (t) => {
      const res = await agora.raw('GET', url);
      assertProblem(t, res, url.split('?')[0]!, { ...VALIDATION, pointers: [pointer], detail: /decimal/ });
    });
  }
  await t.test('plain decimal integers still work', async (t) => {
    for (let i = 0; i < 3; i++) await agora.signUp();
    const res = await agora.raw('GET', '/v1/accounts?limit=2&page=2');
    t.equal(res.status, 200);
    t.equal(res.json.data.length, 2);
    const padded = await agora.raw('GET', '/v1/accounts?limit=02');
    t.equal(padded.status, 200, 'leading zeros are still decimal');
    t.equal(padded.json.data.length, 2);
  });
});

t.test('strings that are not well-formed Unicode are a 400 naming where they are, on every write', async (t) => {
  // Written as JSON text: `\ud800` escapes are how a lone surrogate reaches the server.
  const accountBody = json(createAccount.valid()).slice(1, -1);
  const cases: [Endpoint & { server: Agora }, string, string][] = [
    [createAccount, `{${accountBody.replace(/"displayName":"[^"]*"/, '"displayName":"a\\ud800b"')}}`, '/displayName'],
    [createAccount, `{${accountBody.replace(/"displayName":"[^"]*"/, '"displayName":"ab\\udc00"')}}`, '/displayName'],
    [createAccount, `{${accountBody.replace(/"password":"[^"]*"/, '"password":"correct horse \\udfff battery"')}}`, '/password'],
    [createSession, `{"email": ${json(owner.email)}, "password": "x\\ud83dy"}`, '/password'],
    [updateAccount, '{"bio": "a\\ud800b"}', '/bio'],
    [updateAccount, '{"displayName": "\\ude00 low first \\ud83d"}', '/displayName'],
  ];
  for (const [endpoint, body, pointer] of cases) {
    await t.test(`${endpoint.name} ${body.slice(0, 60)}`, async (t) => {
      const res = await rejects(t, endpoint, body, { ...VALIDATION, pointers: [pointer], detail: /well-formed Unicode/ });
      t.equal(res.json.errors[0].pointer, pointer);
    });
  }

  await t.test('a key with a lone surrogate is named too (here it is also an unknown property)', async (t) => {
    await rejects(t, createAccount, `{"\\ud800x": 1, ${accountBody}}`, { ...VALIDATION, pointers: ['/\ud800x'] });
  });

  await t.test('posts and channels too', async (t) => {
    const headers = { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' };
    const posts = await agora.count('posts.post');
    const post = await agora.raw('POST', '/v1/posts', { headers, body: '{"text":"a\\ud800b"}' });
    assertProblem(t, post, '/v1/posts', { ...VALIDATION, pointers: ['/text'] });
    t.equal(await agora.count('posts.post'), posts, 'no post was stored');
    const channels = await agora.count('channels.channel');
    const channel = await agora.raw('POST', '/v1/channels', { headers, body: '{"name":"ok","description":"\\udbff","visibility":"public"}' });
    assertProblem(t, channel, '/v1/channels', { ...VALIDATION, pointers: ['/description'] });
    t.equal(await agora.count('channels.channel'), channels, 'no channel was stored');
  });

  await t.test('a surrogate pair is well-formed: stored and read back exactly as sent', async (t) => {
    const headers = { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' };
    const created = await agora.raw('POST', '/v1/posts', { headers, body: '{"text":"a\\ud83d\\ude00b"}' });
    t.equal(created.status, 201);
    t.equal(created.json.text, 'a\u{1F600}b');
    const read = await agora.raw('GET', `/v1/posts/${created.json.id}`);
    t.equal(read.json.text, created.json.text, 'the read agrees with the write');
    t.equal(read.headers.get('etag'), created.headers.get('etag'));
  });
});
