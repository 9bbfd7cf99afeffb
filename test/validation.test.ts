// The pure parts of request validation and of the caching policy, without a server.
import t from 'tap';
import { cacheControlFor, withVary } from '../src/http/plugins/caching.ts';
import { illFormedPointer, integerParameters, looseIntegers, validatorCompiler } from '../src/http/validation.ts';

t.test('integerParameters names the properties declared as integers', async (t) => {
  const schema = {
    type: 'object',
    properties: { limit: { type: 'integer' }, cursor: { type: 'string' }, page: { type: ['integer', 'null'] }, sort: { enum: ['a'] } },
  };
  t.same(integerParameters(schema), ['limit', 'page']);
  t.same(integerParameters({ type: 'object' }), []);
});

t.test('looseIntegers accepts plain decimal digits only', async (t) => {
  for (const value of ['0', '5', '16', '100', '007', '-3', '12345678901234567890']) {
    t.same(looseIntegers({ limit: value }, ['limit']), [], `${JSON.stringify(value)} is decimal`);
  }
  for (const value of ['0x10', '1e1', '+5', '5.0', ' 5', '5 ', '', '0b11', '0o7', 'Infinity', '-', '1_000', '٣']) {
    const errors = looseIntegers({ limit: value }, ['limit']);
    t.equal(errors.length, 1, `${JSON.stringify(value)} is refused`);
    t.equal(errors[0]?.instancePath, '/limit');
  }
  t.equal(looseIntegers({ limit: ['5', '0x10'] }, ['limit']).length, 1, 'a repeated parameter is checked in each value');
  t.same(looseIntegers({ limit: ['5', '6'] }, ['limit']), []);
  t.same(looseIntegers({}, ['limit']), [], 'an absent parameter is not checked here');
  t.same(looseIntegers({ sort: '0x10' }, ['limit']), [], 'only the named parameters');
  t.same(
    looseIntegers({ limit: '0x1', page: '1e0' }, ['limit', 'page']).map((e) => e.instancePath),
    ['/limit', '/page'],
  );
});

t.test('illFormedPointer finds unpaired surrogates in values and keys, however deep', async (t) => {
  t.equal(illFormedPointer({ a: 'fine', b: ['ok', 'a\u{1F600}b'] }), undefined, 'a surrogate pair is well-formed');
  t.equal(illFormedPointer('a\ud800b'), '');
  t.equal(illFormedPointer({ text: 'a\ud800b' }), '/text');
  t.equal(illFormedPointer({ text: 'ab\udc00' }), '/text');
  t.equal(illFormedPointer({ a: { b: ['x', 'y\udbff'] } }), '/a/b/1');
  t.equal(illFormedPointer({ 'k\ud800': 'v' }), '/k\ud800', 'a key');
  t.equal(illFormedPointer({ 'a/b~c': { d: '\udfff' } }), '/a~1b~0c/d', 'pointer escapes');
  t.equal(illFormedPointer({ n: 1, b: true, z: null }), undefined);
});

t.test('cacheControlFor: private for credentials, revalidated for anonymous reads, else not stored', async (t) => {
  const anonymous = (method: string) => ({ method, headers: {} });
  const signedIn = (method: string) => ({ method, headers: { authorization: 'Bearer x' } });
  t.equal(cacheControlFor(signedIn('GET'), 200), 'private, no-store');
  t.equal(cacheControlFor(signedIn('GET'), 304), 'private, no-store');
  t.equal(cacheControlFor(signedIn('POST'), 201), 'private, no-store');
  t.equal(cacheControlFor(signedIn('GET'), 401), 'private, no-store', 'even when the token is refused');
  t.equal(cacheControlFor(anonymous('GET'), 200), 'no-cache');
  t.equal(cacheControlFor(anonymous('HEAD'), 200), 'no-cache');
  t.equal(cacheControlFor(anonymous('GET'), 304), 'no-cache');
  t.equal(cacheControlFor(anonymous('GET'), 404), 'no-store');
  t.equal(cacheControlFor(anonymous('POST'), 201), 'no-store');
  t.equal(cacheControlFor(anonymous('OPTIONS'), 204), 'no-store');
});

t.test('withVary adds a name once', async (t) => {
  t.equal(withVary(undefined, 'Authorization'), 'Authorization');
  t.equal(withVary('accept-encoding', 'Authorization'), 'accept-encoding, Authorization');
  t.equal(withVary('Origin, authorization', 'Authorization'), 'Origin, authorization');
  t.equal(withVary('*', 'Authorization'), '*');
});

t.test('one validator per request part and schema: clones share it, another part or schema gets its own', async (t) => {
  const limit = () => ({ type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100 } }, additionalProperties: false });
  const compile = (schema: object, httpPart: string, url: string) => validatorCompiler({ schema, httpPart, method: 'GET', url }) as (data: unknown) => { value?: unknown; error?: Error };
  const first = compile(limit(), 'querystring', '/a');
  t.equal(compile(limit(), 'querystring', '/b'), first, 'the same schema on another route: the same validator');
  const asBody = compile(limit(), 'body', '/c');
  t.not(asBody, first, 'the same schema as a body: its own (bodies are not coerced)');
  t.same(first({ limit: '5' }), { value: { limit: 5 } }, 'a query parameter is coerced');
  t.ok(asBody({ limit: '5' }).error, 'a body property is not');
  const other = compile({ ...limit(), required: ['limit'] }, 'querystring', '/d');
  t.not(other, first, 'another schema: its own');
  t.ok(other({}).error, 'which requires what it requires');
  t.same(first({}), { value: {} }, 'and the first does not');
});
