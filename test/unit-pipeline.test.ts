// The pipeline's plugins (src/http/plugins/authentication.ts, conditional.ts), each switched on
// by what an operation declares, on a bare Fastify instance with a fake handler: no database.
import t from 'tap';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { SignInRequired, Unauthenticated, type Caller } from '../src/handlers/index.ts';
import { compose, type ContractOperation, type OperationPlugin, send } from '../src/http/pipeline.ts';
import { authentication } from '../src/http/plugins/authentication.ts';
import { conditionalRequests } from '../src/http/plugins/conditional.ts';
import { problems } from '../src/http/plugins/errors.ts';
import '../src/http/types.ts';

function operation(overrides: Partial<ContractOperation>): ContractOperation {
  return { operationId: 'op', method: 'get', path: '/thing', prefix: '/v1', security: [], parameters: new Map(), operation: {}, ...overrides };
}

const GOOD: Caller = { accountId: 'a', sessionId: 's' };
const authenticate = async (token: string) => {
  if (token === 'good') return GOOD;
  throw new Unauthenticated('the token is unknown or was revoked');
};

/** A server with one GET /thing whose handler reports what the pipeline handed it. */
async function serve(t: { teardown: (fn: () => unknown) => void }, plugins: OperationPlugin[], op: ContractOperation, answer: { status: number; headers: Record<string, string> } = { status: 200, headers: {} }) {
  const app = Fastify();
  app.decorateRequest('caller', null);
  app.decorateRequest('expectedVersion', undefined);
  await app.register(problems, { apis: [], isUnavailable: () => false, retryAfterSeconds: 1 });
  const respond = compose(plugins, op, async (request: FastifyRequest) => ({
    ...answer,
    body: { caller: request.caller, expectedVersion: request.expectedVersion ?? null },
  }));
  app.route({ method: op.method.toUpperCase() as 'GET', url: '/thing', handler: async (request: FastifyRequest, reply: FastifyReply) => send(reply, await respond(request, reply)) });
  t.teardown(() => app.close());
  return app;
}

const REQUIRED: Record<string, string[]>[] = [{ bearerAuth: [] }];
const OPTIONAL: Record<string, string[]>[] = [{ bearerAuth: [] }, {}];

t.test('an operation that requires a token refuses a request without one (401 with the bare challenge)', async (t) => {
  const app = await serve(t, [authentication(authenticate)], operation({ security: REQUIRED }));
  const res = await app.inject({ url: '/thing' });
  t.equal(res.statusCode, 401);
  t.equal(res.headers['www-authenticate'], 'Bearer realm="agora"');
  t.equal(res.json().detail, 'send a session token as "Authorization: Bearer <token>"');
  const ok = await app.inject({ url: '/thing', headers: { authorization: 'Bearer good' } });
  t.same(ok.json().caller, GOOD);
});

t.test('an operation open to anonymous callers lets them in, but still refuses a bad token', async (t) => {
  const app = await serve(t, [authentication(authenticate)], operation({ security: OPTIONAL }));
  t.same((await app.inject({ url: '/thing' })).json(), { caller: null, expectedVersion: null });
  for (const authorization of ['Bearer bad', 'Basic Zm9vOmJhcg==']) {
    const res = await app.inject({ url: '/thing', headers: { authorization } });
    t.equal(res.statusCode, 401, authorization);
    t.equal(res.headers['www-authenticate'], 'Bearer realm="agora", error="invalid_token"');
  }
});

t.test('security: [] never looks at the header; an unknown scheme stops the start', async (t) => {
  const app = await serve(t, [authentication(authenticate)], operation({ security: [] }));
  t.equal((await app.inject({ url: '/thing', headers: { authorization: 'Bearer bad' } })).statusCode, 200);
  t.throws(() => authentication(authenticate)(operation({ security: [{ apiKey: [] }] })), /apiKey/);
});

t.test('a fault while authenticating is not a bad token', async (t) => {
  const app = await serve(t, [authentication(async () => { throw new Error('database down'); })], operation({ security: OPTIONAL }));
  t.equal((await app.inject({ url: '/thing', headers: { authorization: 'Bearer good' } })).statusCode, 500);
});

t.test('If-None-Match naming the current ETag answers 304, without a body', async (t) => {
  const op = operation({ parameters: new Map([['if-none-match', { in: 'header', required: false }]]) });
  const app = await serve(t, [conditionalRequests], op, { status: 200, headers: { etag: '"3"' } });
  const hit = await app.inject({ url: '/thing', headers: { 'if-none-match': 'W/"3"' } });
  t.equal(hit.statusCode, 304);
  t.equal(hit.headers.etag, '"3"');
  t.equal(hit.body, '');
  t.equal((await app.inject({ url: '/thing', headers: { 'if-none-match': '"2"' } })).statusCode, 200);
  t.equal((await app.inject({ method: 'HEAD', url: '/thing', headers: { 'if-none-match': '"3"' } })).statusCode, 304);
});

t.test('an operation that does not declare If-None-Match ignores it', async (t) => {
  const app = await serve(t, [conditionalRequests], operation({}), { status: 200, headers: { etag: '"3"' } });
  t.equal((await app.inject({ url: '/thing', headers: { 'if-none-match': '"3"' } })).statusCode, 200);
});

t.test('If-Match reaches the handler as the version it names, only where declared', async (t) => {
  const declared = await serve(t, [conditionalRequests], operation({ parameters: new Map([['if-match', { in: 'header', required: false }]]) }));
  t.equal((await declared.inject({ url: '/thing', headers: { 'if-match': '"7"' } })).json().expectedVersion, 7);
  t.equal((await declared.inject({ url: '/thing', headers: { 'if-match': 'W/"7"' } })).json().expectedVersion, -1);
  t.equal((await declared.inject({ url: '/thing' })).json().expectedVersion, null);
  const undeclared = await serve(t, [conditionalRequests], operation({}));
  t.equal((await undeclared.inject({ url: '/thing', headers: { 'if-match': '"7"' } })).json().expectedVersion, null);
});

t.test('a plugin the contract does not ask for adds no stage', async (t) => {
  t.equal(conditionalRequests(operation({})), undefined);
  t.equal(authentication(authenticate)(operation({ security: [{}] })), undefined);
  t.type(new SignInRequired(), Error);
});
