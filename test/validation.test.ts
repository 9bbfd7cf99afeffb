// The pure parts of request validation, without a server.
import t from 'tap';
import { illFormedPointer, integerParameters, looseIntegers } from '../src/http/validation.ts';

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
