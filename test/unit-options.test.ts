// OPTIONS comes from the contract: the Allow derivation of src/http/conventions.ts (declared
// methods of a path, filtered by what the domain's permission function permits) and the start-up
// check that every OPTIONS operation has a permission function, on fixtures and on the real
// contracts, without a server.
import t from 'tap';
import { createHandlers, type Services } from '../src/domains/index.ts';
import { allowedOf, assertOptionsCovered, declaredMethods, optionsViolations } from '../src/http/conventions.ts';
import { loadSpec, specV2Path, type OpenApiDocument } from '../src/http/spec.ts';

const ok = { description: 'ok' };
const op = (operationId: string) => ({ operationId, responses: { '200': ok } });
const doc = (paths: Record<string, Record<string, unknown>>): OpenApiDocument => ({ openapi: '3.1.0', paths, components: {} });

t.test('declaredMethods lists the methods of a path in Allow order, HEAD with GET', async (t) => {
  const document = doc({
    '/posts/{postId}': { parameters: [], options: op('o'), delete: op('d'), patch: op('p'), get: op('g') },
    '/posts': { options: op('o2'), post: op('c') },
    '/members/{id}': { put: op('u'), delete: op('d2'), get: op('g2'), options: op('o3') },
  });
  t.same(declaredMethods(document, '/posts/{postId}'), ['GET', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS']);
  t.same(declaredMethods(document, '/posts'), ['POST', 'OPTIONS'], 'no GET: no HEAD');
  t.same(declaredMethods(document, '/members/{id}'), ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
  t.same(declaredMethods(document, '/nowhere'), [], 'a path the contract does not have');
});

t.test('allowedOf keeps the declared methods the caller is permitted, OPTIONS always, HEAD with GET', async (t) => {
  const declared = ['GET', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'];
  t.same(allowedOf(declared, new Set(['GET', 'PATCH', 'DELETE'])), declared, 'the author');
  t.same(allowedOf(declared, new Set(['GET'])), ['GET', 'HEAD', 'OPTIONS'], 'a stranger');
  t.same(allowedOf(declared, new Set()), ['OPTIONS'], 'nothing permitted: OPTIONS still');
  t.same(allowedOf(['POST', 'OPTIONS'], new Set(['GET', 'POST', 'PUT'])), ['POST', 'OPTIONS'], 'a permitted method the path does not declare is not listed');
  t.same(allowedOf(declared, new Set(['DELETE', 'GET'])), ['GET', 'HEAD', 'DELETE', 'OPTIONS'], 'the contract order, not the permission order');
});

t.test('every OPTIONS operation needs a permission function for its path', async (t) => {
  const document = doc({
    '/a': { get: op('getA'), options: op('optionsA') },
    '/b/{id}': { get: op('getB'), options: op('optionsB') },
    '/c': { get: op('getC') },
  });
  t.same(optionsViolations(document, new Set(['/a', '/b/{id}'])), []);
  t.doesNotThrow(() => assertOptionsCovered(document, new Set(['/a', '/b/{id}'])));
  const problems = optionsViolations(document, new Set(['/a', '/c']));
  t.equal(problems.length, 1);
  t.match(problems[0], /OPTIONS \/b\/\{id\} \(optionsB\) has no permission function/);
  t.throws(() => assertOptionsCovered(document, new Set(['/a'])), /\/b\/\{id\}/, 'start-up stops, naming the path');
});

t.test('the real contracts: every OPTIONS path has a permission function, and declares what Allow may list', async (t) => {
  // The permission functions only capture their services here; none is called.
  const handlers = createHandlers({} as Services);
  const v1 = loadSpec().document;
  const v2 = loadSpec(specV2Path).document;
  t.same(optionsViolations(v1, new Set(Object.keys(handlers.v1.allowedMethods))), []);
  t.same(optionsViolations(v2, new Set(Object.keys(handlers.v2.allowedMethods))), []);
  for (const document of [v1, v2]) {
    t.same(declaredMethods(document, '/posts/{postId}'), ['GET', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS']);
    t.same(declaredMethods(document, '/posts'), ['POST', 'OPTIONS']);
    t.same(declaredMethods(document, '/channels/{channelId}/posts'), ['GET', 'HEAD', 'POST', 'OPTIONS']);
  }
  t.same(declaredMethods(v1, '/channels/{channelId}/members/{accountId}'), ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
  t.same(declaredMethods(v1, '/sessions/me'), ['GET', 'HEAD', 'DELETE', 'OPTIONS']);
});
