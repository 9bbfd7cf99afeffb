// Domains served apart, without a server: the composition builds a domain's stub instead of its
// services when it has a client for it (and refuses one that cannot be served apart, naming those
// that can); service errors cross the wire as themselves; internal idempotency keys are derived
// from the outer request's key, whose it is and the operations, and nothing else.
import t from 'tap';
import { loadConfig } from '../src/config.ts';
import { checkServableApart, createDomainServices, CompositionError, domainBindings } from '../src/domains/compose.ts';
import type { AnyDomain, DomainContext } from '../src/domains/domain.ts';
import { domainsServableApart } from '../src/domains/index.ts';
import { silentLog } from '../src/log.ts';
import type { Database } from '../src/persistence/sql.ts';
import { internalKey, RemoteClient } from '../src/remote/client.ts';
import { accountsBinding } from '../src/remote/accounts.ts';
import { postsBinding } from '../src/remote/posts.ts';
import { buildDomainServer, isLoopback } from '../src/remote/server.ts';
import type { KeyedRequest } from '../src/services/idempotency/index.ts';
import { decodeError, encodeError } from '../src/remote/wire.ts';
import { noCaching } from '../src/services/cache.ts';
import {
  Conflict,
  Forbidden,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidInput,
  NotFound,
  PreconditionFailed,
  ServiceUnavailable,
  SignInRequired,
  Unauthenticated,
} from '../src/services/errors.ts';

const context: Omit<DomainContext, 'events'> = { database: {} as Database, config: loadConfig({}), log: silentLog, caching: noCaching };
const client = new RemoteClient<object>({ target: 'graph', url: 'http://127.0.0.1:9', token: 'x'.repeat(16), deadlineMs: 100, retryAfterSeconds: 1, log: silentLog });

t.test('with a client for it, a domain is its stub; its handlers and subscriptions use the stub; the others are built as always', async (t) => {
  const made: string[] = [];
  const subscribed: unknown[] = [];
  const graph: AnyDomain = {
    name: 'graph',
    needs: ['people'],
    entities: [],
    migrations: {},
    create: () => {
      made.push('graph (local)');
      return { graph: { where: 'local' } };
    },
    remote: {
      contract: new URL('file:///graph.yaml'),
      serve: () => ({ target: 'graph', contract: new URL('file:///graph.yaml'), operations: {} }),
      stub: (given: unknown, needed: Record<string, unknown>) => {
        t.equal(given, client, 'the stub gets the client of its domain');
        t.same(Object.keys(needed), ['people'], 'and the services of the domains it needs');
        return { graph: { where: 'remote' } };
      },
    },
    subscribe: (_events, services: { graph: unknown }) => void subscribed.push(services.graph),
  };
  const people: AnyDomain = { name: 'people', needs: [], entities: [], migrations: {}, create: () => (made.push('people'), { people: {} }) };

  const local = createDomainServices([people, graph], context) as Record<string, unknown>;
  t.same(local.graph, { where: 'local' });
  const remote = createDomainServices([people, graph], { ...context, remotes: { graph: client } }) as Record<string, unknown>;
  t.same(remote.graph, { where: 'remote' });
  t.same(made, ['people', 'graph (local)', 'people'], 'a remote domain is not built in process');
  t.same(subscribed, [{ where: 'local' }, { where: 'remote' }], 'its subscriptions get the stub');

  t.throws(() => createDomainServices([people, graph], { ...context, remotes: { people: client } }), new CompositionError(
    'PEOPLE_SERVICE_URL: domain "people" has no internal contract, so it cannot be served apart; the domains that can be served apart are: graph',
  ));
  t.throws(() => domainBindings([people, graph], ['nothing'], {}), /SERVE_DOMAINS=nothing: there is no domain "nothing"; the domains that can be served apart are: graph/);
  t.same(domainBindings([people, graph], ['graph'], {}).map((b) => b.target), ['graph']);
  t.doesNotThrow(() => checkServableApart([people, graph], [], () => 'unused'));
});

t.test('the real list: the domains with an internal contract can be served apart', async (t) => {
  t.same(domainsServableApart, ['accounts', 'social', 'channels', 'posts', 'messages', 'notifications', 'stream', 'timelines']);
});

t.test('service errors cross the wire as themselves', async (t) => {
  const errors = [
    new NotFound('friend request'),
    new Forbidden('only the account itself may'),
    new Conflict('you already are friends', 'accountId'),
    new Conflict('no field'),
    new InvalidInput([{ field: 'friendId', detail: 'cannot be yourself' }]),
    new PreconditionFailed(7),
    new Unauthenticated('the session has ended'),
    new SignInRequired(),
    new IdempotencyKeyInFlight(1),
    new IdempotencyKeyReused(),
  ];
  for (const error of errors) {
    const { status, body } = encodeError(error);
    t.ok(status >= 400 && status < 500, `${error.kind} is a 4xx`);
    const back = decodeError(JSON.parse(JSON.stringify(body)));
    t.ok(back instanceof error.constructor, `${error.kind} comes back as its class`);
    t.same({ ...back, message: back!.message }, { ...error, message: error.message }, `${error.kind}: message and fields`);
  }
  t.equal(decodeError({ kind: 'something-new', message: 'x' }), undefined, 'an unknown kind is no service error');
});

t.test("a domain that a domain server calls in turn is unavailable: a 503 naming it, raised again as that domain's unavailability", async (t) => {
  const down = new ServiceUnavailable('messages', 'unreachable', 5);
  const { status, body } = encodeError(down);
  t.equal(status, 503, 'not a 4xx: its caller must not take it for a domain error, nor answer 500');
  t.same(body, { kind: 'service-unavailable', message: down.message, retryAfterSeconds: 5, target: 'messages' });
  const back = decodeError(JSON.parse(JSON.stringify(body)));
  t.ok(back instanceof ServiceUnavailable);
  t.match(back, { target: 'messages', retryAfterSeconds: 5, message: down.message });
  t.equal(
    decodeError({ kind: 'service-unavailable', message: 'the database is unreachable' }),
    undefined,
    "without a target (the domain server's own database): left to the caller, which takes it as the domain server's unavailability",
  );
});

t.test('internal idempotency keys', async (t) => {
  const outer = { scope: 'account-a', operation: 'createFriendRequest', key: 'k1' };
  const key = internalKey(outer, 'social', 'sendRequest');
  t.equal(internalKey({ ...outer }, 'social', 'sendRequest'), key, 'the same for a retry of the same request');
  t.match(key, /^[A-Za-z0-9_-]{43}$/, 'a valid header value');
  const others = [
    internalKey({ ...outer, scope: 'account-b' }, 'social', 'sendRequest'),
    internalKey({ ...outer, operation: 'addFriend' }, 'social', 'sendRequest'),
    internalKey({ ...outer, key: 'k2' }, 'social', 'sendRequest'),
    internalKey(outer, 'social', 'acceptRequest'),
    internalKey(outer, 'accounts', 'sendRequest'),
  ];
  t.equal(new Set([key, ...others]).size, 6, 'another caller, outer operation, key, internal operation or target: another key');
});

t.test('a domain server without INTERNAL_API_TOKEN answers loopback callers only', async (t) => {
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) t.ok(isLoopback(address), address);
  for (const address of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', '::', undefined]) t.notOk(isLoopback(address), String(address));
});

t.test("a domain server looks up first the keys of the operations dear before their first write (a password hashed or checked), and claims the others' with their write", async (t) => {
  const seen: KeyedRequest[] = [];
  const server = await buildDomainServer({
    bindings: [accountsBinding({} as never, {} as never), postsBinding({} as never)],
    token: undefined,
    idempotency: {
      execute: async (request) => {
        seen.push(request);
        return { response: { status: 204, headers: {}, body: null }, replayed: false };
      },
    },
    logger: false,
    bodyLimitBytes: 1 << 20,
    ready: async () => true,
    isUnavailable: () => false,
    retryAfterSeconds: 1,
  });
  t.teardown(() => server.close());
  const call = async (path: string, args: unknown[]) =>
    (await server.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json', 'idempotency-key': `k-${seen.length}` }, payload: { args } })).statusCode;
  const ids = { accountId: '01a2469c-8b88-7300-adba-2ae0e4f1bbee', sessionId: '01a2469c-8b88-7300-adba-2ae0e4f1bbef' };
  t.equal(await call('/internal/accounts/signUp', [{ email: 'a@example.com', password: 'correct horse battery staple', handle: 'ada_l', displayName: 'Ada' }]), 204);
  t.equal(await call('/internal/accounts/signIn', ['a@example.com', 'correct horse battery staple']), 204);
  t.equal(await call('/internal/posts/publish', [ids, { text: 'hello' }]), 204);
  t.same(seen.map((r) => [r.operation, r.lookupFirst]), [['signUp', true], ['signIn', true], ['publish', false]]);
});
