// The contract readers of src/http/conventions.ts on small fixture documents, without a server:
// $ref resolution, operationsOf, the convention checks, path matching over several served APIs,
// the CORS policy derived from the contracts, and the successor links of deprecated routes.
import t from 'tap';
import {
  MAX_PATH_PARAMETER_LENGTH,
  assertConventions,
  conventionViolations,
  corsPolicy,
  headerParameters,
  operationsOf,
  pathMethods,
  resolveRef,
} from '../src/http/conventions.ts';
import type { OpenApiDocument } from '../src/http/spec.ts';

const doc = (paths: Record<string, Record<string, unknown>>, components: Record<string, unknown> = {}): OpenApiDocument => ({
  openapi: '3.1.0',
  paths,
  components,
});

const ok = { description: 'ok' };
const IDEMPOTENCY_KEY = { name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } };
const IF_NONE_MATCH = { name: 'If-None-Match', in: 'header', schema: { type: 'string' } };

t.test('resolveRef follows local references, chains of them and escaped names', async (t) => {
  const document = doc({}, {
    parameters: { Key: IDEMPOTENCY_KEY, Alias: { $ref: '#/components/parameters/Key' } },
    responses: { 'a/b~c': ok, Loop: { $ref: '#/components/responses/Loop' } },
  });
  t.equal(resolveRef(document, { $ref: '#/components/parameters/Key' }), IDEMPOTENCY_KEY);
  t.equal(resolveRef(document, { $ref: '#/components/parameters/Alias' }), IDEMPOTENCY_KEY, 'a reference to a reference');
  t.equal(resolveRef(document, { $ref: '#/components/responses/a~1b~0c' }), ok, '~1 is / and ~0 is ~');
  t.equal(resolveRef(document, IF_NONE_MATCH), IF_NONE_MATCH, 'not a reference: itself');
  t.same(resolveRef(document, { $ref: '#/components/parameters/Missing' }), {}, 'a dangling reference: nothing');
  t.same(resolveRef(document, undefined), {});
  t.same(resolveRef(document, { $ref: '#/components/responses/Loop' }), { $ref: '#/components/responses/Loop' }, 'a cycle ends');
});

t.test('operationsOf lists the operations with an operationId, by path then by method', async (t) => {
  const document = doc({
    '/b': { post: { operationId: 'createB' }, get: { operationId: 'listB' }, parameters: [], summary: 'B' },
    '/a/{id}': { delete: { operationId: 'deleteA' }, patch: { operationId: 'patchA' }, put: { description: 'no operationId' } },
  });
  t.same(
    operationsOf(document).map(({ method, path, operationId }) => `${method} ${path} ${operationId}`),
    ['get /b listB', 'post /b createB', 'delete /a/{id} deleteA', 'patch /a/{id} patchA'],
  );
  t.equal(operationsOf(document)[0]?.operation, document.paths['/b']?.get, 'the operation object itself');
  t.same(operationsOf({ openapi: '3.1.0' } as OpenApiDocument), [], 'no paths at all');
});

t.test('headerParameters joins the path item’s and the operation’s header parameters, resolving references', async (t) => {
  const document = doc(
    {
      '/a': {
        parameters: [{ $ref: '#/components/parameters/RequestId' }, { name: 'q', in: 'query' }],
        get: { operationId: 'getA', parameters: [{ $ref: '#/components/parameters/IfNoneMatch' }, { name: 'id', in: 'path' }] },
      },
    },
    { parameters: { RequestId: { name: 'X-Trace', in: 'header' }, IfNoneMatch: IF_NONE_MATCH } },
  );
  t.same(headerParameters(document, '/a', document.paths['/a']!.get as never), ['X-Trace', 'If-None-Match']);
  t.same(headerParameters(doc({ '/b': {} }), '/b', {}), []);
});

/** A document that keeps every convention, to break one piece at a time. */
function keeping(): any {
  return doc(
    {
      '/things': {
        post: {
          operationId: 'createThing',
          'x-idempotent': true,
          parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }],
          responses: { '201': ok, '409': ok, '422': ok },
        },
      },
      '/things/{id}': {
        parameters: [{ $ref: '#/components/parameters/IfNoneMatch' }],
        get: { operationId: 'getThing', responses: { '200': { $ref: '#/components/responses/Thing' }, '304': ok } },
        put: { operationId: 'putThing', responses: { '200': ok } },
      },
      '/tags': { post: { operationId: 'createTag', 'x-idempotent': false, responses: { '201': ok } } },
    },
    {
      parameters: { IdempotencyKey: IDEMPOTENCY_KEY, IfNoneMatch: IF_NONE_MATCH },
      responses: { Thing: { description: 'a thing', headers: { ETag: { schema: { type: 'string' } } } } },
    },
  );
}

t.test('a document that keeps the conventions has no violations', async (t) => {
  t.same(conventionViolations(keeping()), []);
  t.doesNotThrow(() => assertConventions(keeping()));
});

t.test('a creating POST must say x-idempotent true or false', async (t) => {
  const d = keeping();
  delete d.paths['/tags'].post['x-idempotent'];
  t.same(conventionViolations(d), [
    'POST /tags (createTag) creates data: mark it `x-idempotent: true`, or `x-idempotent: false` with the reason in its description',
  ]);
  d.paths['/tags'].post.responses = { '200': ok };
  t.same(conventionViolations(d), [], 'a POST that creates nothing need not');
});

t.test('x-idempotent must be a boolean, on a POST', async (t) => {
  const d = keeping();
  d.paths['/tags'].post['x-idempotent'] = 'yes';
  t.same(conventionViolations(d), [
    'POST /tags (createTag) creates data: mark it `x-idempotent: true`, or `x-idempotent: false` with the reason in its description',
    'POST /tags (createTag): x-idempotent must be true or false',
  ]);
  const put = keeping();
  Object.assign(put.paths['/things/{id}'].put, { 'x-idempotent': true, parameters: [IDEMPOTENCY_KEY], responses: { '200': ok, '409': ok, '422': ok } });
  t.same(conventionViolations(put), ['PUT /things/{id} (putThing): only POST operations can be x-idempotent']);
});

t.test('an x-idempotent POST declares the Idempotency-Key header, the 409 and the 422', async (t) => {
  const d = keeping();
  d.paths['/things'].post.parameters = [{ name: 'idempotency-KEY', in: 'header' }];
  t.same(conventionViolations(d), [], 'the header name is case-insensitive');
  d.paths['/things'].post.parameters = [{ name: 'Idempotency-Key', in: 'query' }];
  delete d.paths['/things'].post.responses['409'];
  delete d.paths['/things'].post.responses['422'];
  t.same(conventionViolations(d), [
    'POST /things (createThing) is x-idempotent: declare the header parameter (#/components/parameters/IdempotencyKey)',
    'POST /things (createThing) is x-idempotent: declare the 409 for a key in flight (#/components/responses/ConflictOrKeyInFlight)',
    'POST /things (createThing) is x-idempotent: declare the 422 for a reused key (#/components/responses/IdempotencyKeyReused)',
  ]);
});

t.test('a GET whose 200 sends an ETag declares If-None-Match and the 304', async (t) => {
  const d = keeping();
  d.paths['/things/{id}'].parameters = [];
  delete d.paths['/things/{id}'].get.responses['304'];
  t.same(conventionViolations(d), [
    'GET /things/{id} (getThing) sends an ETag: declare the If-None-Match header parameter (#/components/parameters/IfNoneMatch)',
    'GET /things/{id} (getThing) sends an ETag: declare the 304 response (#/components/responses/NotModified)',
  ]);
  t.throws(() => assertConventions(d), {
    message:
      'openapi.yaml breaks the API conventions:\n' +
      '  - GET /things/{id} (getThing) sends an ETag: declare the If-None-Match header parameter (#/components/parameters/IfNoneMatch)\n' +
      '  - GET /things/{id} (getThing) sends an ETag: declare the 304 response (#/components/responses/NotModified)',
  });
  d.components.responses.Thing.headers = {};
  t.same(conventionViolations(d), [], 'no ETag, no conditional GET needed');
});

t.test('the ETag check does not depend on how the header name is spelled', async (t) => {
  for (const name of ['etag', 'Etag', 'ETAG']) {
    const d = keeping();
    d.components.responses.Thing.headers = { [name]: { schema: { type: 'string' } } };
    delete d.paths['/things/{id}'].get.responses['304'];
    t.same(conventionViolations(d), ['GET /things/{id} (getThing) sends an ETag: declare the 304 response (#/components/responses/NotModified)'], name);
  }
});

const v1 = doc({
  '/accounts': { get: { operationId: 'listAccounts' }, post: { operationId: 'createAccount' } },
  '/accounts/{accountId}': { get: { operationId: 'getAccount' }, patch: { operationId: 'updateAccount' }, delete: { operationId: 'deleteAccount' } },
  '/accounts/{accountId}/friends/{friendId}': { put: { operationId: 'addFriend' }, delete: { operationId: 'removeFriend' } },
  '/sessions/me': { delete: { operationId: 'signOut' } },
});
const v2 = doc({
  '/posts': { get: { operationId: 'listPosts' }, post: { operationId: 'createPost' } },
  '/posts/{postId}': { get: { operationId: 'getPost' }, head: { operationId: 'headPost' }, options: { operationId: 'postOptions' } },
});
const served = [
  { document: v1, prefix: '/v1' },
  { document: v2, prefix: '/v2' },
];

t.test('pathMethods finds the contract’s methods for a request path under each API’s prefix, HEAD with GET', async (t) => {
  const methodsOf = pathMethods(served);
  t.same(methodsOf('/v1/accounts'), { methods: ['GET', 'POST', 'HEAD'], overlong: false });
  t.same(methodsOf('/v1/accounts/0195f3a2'), { methods: ['GET', 'DELETE', 'PATCH', 'HEAD'], overlong: false });
  t.same(methodsOf('/v1/accounts/x/friends/y'), { methods: ['PUT', 'DELETE'], overlong: false }, 'no GET, no HEAD');
  t.same(methodsOf('/v1/sessions/me'), { methods: ['DELETE'], overlong: false });
  t.same(methodsOf('/v2/posts/p1'), { methods: ['GET', 'OPTIONS', 'HEAD'], overlong: false }, 'a declared HEAD is listed once');
  t.same(methodsOf('/v2/posts'), { methods: ['GET', 'POST', 'HEAD'], overlong: false });
  t.same(methodsOf('/v1/accounts/'), { methods: ['GET', 'POST', 'HEAD'], overlong: false }, 'a trailing slash is ignored');
});

t.test('pathMethods knows nothing outside the contracts or under the wrong prefix', async (t) => {
  const methodsOf = pathMethods(served);
  for (const path of ['/', '/v1', '/v3/posts', '/v2/accounts', '/v1/posts', '/accounts', '/v1/accounts//', '/v1/accounts/x/friends', '/v1/accounts/x/y', '/v1/accountsx', '/x/v1/accounts', '/v1/sessions/you']) {
    t.equal(methodsOf(path), undefined, path);
  }
  t.equal(methodsOf('/v1/accounts//friends/y'), undefined, 'an empty parameter is no parameter');
});

t.test('pathMethods tells a path whose parameter is too long for the router from an unknown one', async (t) => {
  const methodsOf = pathMethods(served);
  const longest = 'x'.repeat(MAX_PATH_PARAMETER_LENGTH);
  const tooLong = `${longest}x`;
  t.same(methodsOf(`/v1/accounts/${longest}`), { methods: ['GET', 'DELETE', 'PATCH', 'HEAD'], overlong: false }, 'exactly the limit');
  t.same(methodsOf(`/v1/accounts/${tooLong}`), { methods: ['GET', 'DELETE', 'PATCH', 'HEAD'], overlong: true });
  t.same(methodsOf(`/v1/accounts/a/friends/${tooLong}`), { methods: ['PUT', 'DELETE'], overlong: true }, 'the second parameter');
  t.same(methodsOf(`/v2/posts/${tooLong}/`), { methods: ['GET', 'OPTIONS', 'HEAD'], overlong: true }, 'v2, with a trailing slash');
  t.equal(methodsOf(`/v1/nothing/${tooLong}`), undefined);
  t.equal(methodsOf(`/v1/sessions/${tooLong}`), undefined, 'no parameter there');
});

t.test('corsPolicy derives methods, request headers and response headers from every contract', async (t) => {
  const a = doc(
    {
      '/things': {
        parameters: [{ $ref: '#/components/parameters/Key' }],
        get: {
          operationId: 'listThings',
          parameters: [{ name: 'q', in: 'query' }, IF_NONE_MATCH],
          responses: { '200': { $ref: '#/components/responses/Listed' }, '304': ok },
        },
        post: { operationId: 'createThing', requestBody: {}, responses: { '201': { description: 'made', headers: { Location: {}, 'Content-Type': {} } } } },
      },
    },
    {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      parameters: { Key: IDEMPOTENCY_KEY },
      responses: {
        Listed: {
          description: 'listed',
          headers: { ETag: {}, Link: {}, 'Cache-Control': {}, 'Last-Modified': {}, 'Access-Control-Allow-Origin': {}, 'X-Total': {} },
        },
      },
    },
  );
  const b = doc({
    '/other': {
      delete: { operationId: 'deleteOther', parameters: [{ name: 'If-Match', in: 'header' }], responses: { '204': { description: 'gone', headers: { Deprecation: {}, etag: {} } } } },
    },
  });
  const policy = corsPolicy([a, b]);
  t.same(policy.methods, ['GET', 'HEAD', 'POST', 'DELETE']);
  t.same(policy.allowedHeaders, ['authorization', 'idempotency-key', 'if-none-match', 'content-type', 'if-match']);
  t.same(policy.exposedHeaders, ['etag', 'link', 'x-total', 'location', 'deprecation'], 'safelisted and CORS headers left out, named once');
});

t.test('corsPolicy allows Authorization only for a scheme that sends it', async (t) => {
  const open = doc({ '/a': { get: { operationId: 'getA' } } });
  t.same(corsPolicy([open]).allowedHeaders, [], 'no security, no body, no header parameter');
  const withScheme = (scheme: unknown) => corsPolicy([doc({ '/a': { get: { operationId: 'getA' } } }, { securitySchemes: { s: scheme } })]).allowedHeaders;
  t.same(withScheme({ type: 'http', scheme: 'basic' }), ['authorization']);
  t.same(withScheme({ type: 'apiKey', in: 'header', name: 'Authorization' }), ['authorization']);
  t.same(withScheme({ type: 'apiKey', in: 'query', name: 'Authorization' }), [], 'a query parameter is no header');
  t.same(withScheme({ type: 'apiKey', in: 'cookie', name: 'session' }), []);
});

t.test('corsPolicy lets a browser send the header of any scheme: an API key’s own, OAuth 2 and OpenID Connect bearer tokens', async (t) => {
  const withScheme = (scheme: unknown) => corsPolicy([doc({ '/a': { get: { operationId: 'getA' } } }, { securitySchemes: { s: scheme } })]).allowedHeaders;
  t.same(withScheme({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }), ['x-api-key']);
  t.same(withScheme({ type: 'oauth2', flows: {} }), ['authorization']);
  t.same(withScheme({ type: 'openIdConnect', openIdConnectUrl: 'https://example.com/.well-known/openid-configuration' }), ['authorization']);
  t.same(withScheme({ type: 'mutualTLS' }), [], 'a client certificate is no header');
});

t.test('successorLink: the successor path with the request path parameters encoded into it', async (t) => {
  const { successorLink } = await import('../src/http/plugins/deprecation.ts');
  t.equal(successorLink('/v2/posts/{postId}')({ postId: 'abc' }), '</v2/posts/abc>; rel="successor-version"');
  t.equal(
    successorLink('/v2/channels/{channelId}/posts/{postId}/x')({ channelId: 'a b', postId: 'c/d' }),
    '</v2/channels/a%20b/posts/c%2Fd/x>; rel="successor-version"',
    'each parameter in its place, encoded',
  );
  t.equal(successorLink('/v2/feed')({}), '</v2/feed>; rel="successor-version"', 'a path without parameters');
  t.equal(successorLink('/v2/posts/{postId}')({}), '</v2/posts/>; rel="successor-version"', 'a missing parameter is empty, as before');
});
