// Entity tags (src/handlers/conditional.ts) and the conditional headers (src/http/plugins/conditional.ts),
// without a server: If-Match compares strongly, If-None-Match weakly (RFC 9110, 13.1).
import t from 'tap';
import { etag } from '../src/handlers/conditional.ts';
import { expectedVersion, noneMatchHits } from '../src/http/plugins/conditional.ts';

t.test('an entity tag is the version in quotes', async (t) => {
  t.equal(etag(0), '"0"');
  t.equal(etag(42), '"42"');
});

t.test('If-Match: absent or * sets no precondition; a strong tag of ours names its version', async (t) => {
  t.equal(expectedVersion(undefined), undefined);
  t.equal(expectedVersion('*'), undefined);
  t.equal(expectedVersion(' * '), undefined);
  t.equal(expectedVersion('"0"'), 0);
  t.equal(expectedVersion('"7"'), 7);
  t.equal(expectedVersion(' "7"\t'), 7, 'surrounding whitespace is not part of the value');
  t.equal(expectedVersion('"2147483647"'), 2147483647);
});

t.test('If-Match: anything else can never match (-1 is no version)', async (t) => {
  for (const header of ['', '7', 'W/"7"', '"7', '7"', '"-1"', '"7.0"', '"1e3"', '"12345678901"', '""', '"7" "8"', '"x"', '**']) {
    t.equal(expectedVersion(header), -1, JSON.stringify(header));
  }
});

t.test('If-Match compares strongly: a tag is only the one we issued, octet for octet', async (t) => {
  for (const header of ['"07"', '"00"', '"0007"']) {
    t.equal(expectedVersion(header), -1, `${header} is not a tag this API issues`);
  }
});

t.test('If-None-Match compares weakly and accepts lists and *', async (t) => {
  t.equal(noneMatchHits(undefined, '"3"'), false);
  t.equal(noneMatchHits('"3"', '"3"'), true);
  t.equal(noneMatchHits('W/"3"', '"3"'), true, 'a weak tag matches weakly');
  t.equal(noneMatchHits('"3"', 'W/"3"'), true);
  t.equal(noneMatchHits('"2", W/"3" ,"4"', '"3"'), true, 'any tag of a list');
  t.equal(noneMatchHits('"2","4"', '"3"'), false);
  t.equal(noneMatchHits(' * ', '"3"'), true);
  t.equal(noneMatchHits('"30"', '"3"'), false);
  t.equal(noneMatchHits('3', '"3"'), false, 'an unquoted value is no tag');
  t.equal(noneMatchHits('', '"3"'), false);
});
