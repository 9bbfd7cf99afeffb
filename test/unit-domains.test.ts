// The composition of the domains (src/domains/), without a database: the order their needs
// impose, the start-up errors of a list that cannot be built, and, for the real list, that every
// operation of both contracts and every migration belongs to exactly one domain.
import { readdirSync } from 'node:fs';
import t from 'tap';
import { loadConfig } from '../src/config.ts';
import { buildOrder, createDomainHandlers, createDomainServices, CompositionError } from '../src/domains/compose.ts';
import { defineDomain, type AnyDomain, type DomainContext } from '../src/domains/domain.ts';
import { createHandlers, createServices, domains, persistence, type Services } from '../src/domains/index.ts';
import type { Handlers } from '../src/handlers/index.ts';
import { HTTP_METHODS, loadSpec, specV2Path, type OpenApiDocument } from '../src/http/spec.ts';
import { silentLog } from '../src/log.ts';
import { DomainEvents } from '../src/services/events.ts';
import { migrationsDir } from '../src/persistence/orm.ts';
import type { Database } from '../src/persistence/sql.ts';
import { noCaching } from '../src/services/cache.ts';

const context: Omit<DomainContext, 'events'> = { database: {} as Database, config: loadConfig({}), log: silentLog, caching: noCaching };

/** A domain that needs `needs` and provides one service named after itself, which records what it was given. */
function domain(name: string, needs: string[] = [], extra: Partial<AnyDomain> = {}): AnyDomain {
  return {
    name,
    needs,
    entities: [],
    migrations: {},
    create: (_context: DomainContext, needed: Record<string, unknown>) => ({ [name]: { name, given: Object.keys(needed).sort() } }),
    ...extra,
  };
}
const names = (list: readonly AnyDomain[]) => list.map((d) => d.name);

t.test('domains are built after the domains they need, in the order of the list otherwise', async (t) => {
  t.same(names(buildOrder([domain('a'), domain('b'), domain('c')])), ['a', 'b', 'c'], 'no needs: the list order');
  t.same(names(buildOrder([domain('posts', ['accounts', 'channels']), domain('channels', ['accounts']), domain('accounts')])), ['accounts', 'channels', 'posts']);
  t.same(names(buildOrder([domain('x', ['z']), domain('y'), domain('z')])), ['z', 'x', 'y'], 'only what a domain needs moves ahead of it');

  const services = createDomainServices([domain('posts', ['accounts', 'channels']), domain('channels', ['accounts']), domain('accounts')], context) as Record<string, { given: string[] }>;
  t.same(services.accounts!.given, []);
  t.same(services.channels!.given, ['accounts'], 'a domain gets the services of the domains it needs');
  t.same(services.posts!.given, ['accounts', 'channels'], 'and only those');
});

t.test('a list that cannot be built stops the start-up, naming the domains', async (t) => {
  t.throws(() => buildOrder([domain('posts', ['accounts', 'social']), domain('accounts')]), new CompositionError('domain "posts" needs "social", which is not in the domain list'));
  t.throws(
    () => buildOrder([domain('a', ['b']), domain('b', ['c']), domain('c', ['a'])]),
    new CompositionError('domains need each other in a cycle: a → b → c → a'),
  );
  t.throws(() => buildOrder([domain('a', ['a'])]), new CompositionError('domains need each other in a cycle: a → a'));
  t.throws(() => buildOrder([domain('a'), domain('a')]), new CompositionError('two domains are named "a"'));
  const twice = domain('b', [], { create: () => ({ a: {} }) });
  t.throws(() => createDomainServices([domain('a'), twice], context), new CompositionError('services.a is built by both "a" and "b"'));
});

t.test('subscriptions are wired once every domain is built, in the order of the domains', async (t) => {
  const heard: string[] = [];
  const listener = (name: string): Partial<AnyDomain> => ({
    subscribe: (events, services) => {
      t.ok(services.publisher, `${name} sees the services of the whole list`);
      events.on('account.closed', ({ accountId }) => void heard.push(`${name} ${accountId}`));
    },
  });
  const publisher = domain('publisher', [], {
    create: ({ events }) => ({ publisher: { close: (accountId: string) => events.emit('account.closed', { accountId }) } }),
  });
  const services = createDomainServices([domain('second', ['first'], listener('second')), domain('first', [], listener('first')), publisher], context) as unknown as {
    publisher: { close(id: string): Promise<void> };
  };
  await services.publisher.close('a1');
  t.same(heard, ['first a1', 'second a1']);
});

t.test("a domain's caches listen only to the topics it declares, and a topic has one domain", async (t) => {
  const listening = (name: string, topic: string, declared: string[]) =>
    domain(name, [], {
      cacheTopics: declared,
      create: ({ caching }) => {
        caching.source.on(topic, () => {});
        return { [name]: {} };
      },
    });
  t.doesNotThrow(() => createDomainServices([listening('a', 'q', ['q'])], context));
  t.throws(() => createDomainServices([listening('a', 'q', [])], context), new CompositionError('domain "a" listens to cache topic "q", which its cacheTopics do not declare'));
  t.throws(
    () => createDomainServices([listening('a', 'q', ['q']), listening('b', 'q', ['q'])], context),
    new CompositionError('cache topic "q" of domain "b" is already taken by domain "a"'),
  );
  t.throws(
    () => createDomainServices([listening('a', 'y', ['y'])], context),
    new CompositionError('cache topic "y" of domain "a" is already taken by the invalidation listener (its probes)'),
  );
});

t.test('an operation or a permission function served by two domains stops the start-up', async (t) => {
  const serving = (name: string, part: ReturnType<NonNullable<AnyDomain['handlers']>>) => domain(name, [], { handlers: () => part });
  const getPost = (async () => ({ status: 200 })) as unknown as Handlers['getPost'];
  const anyone = async () => ['GET'];
  t.throws(
    () => createDomainHandlers([serving('a', { v1: { getPost } }), serving('b', { v1: { getPost } })], {}),
    new CompositionError('operation getPost (v1) is served by both "a" and "b"'),
  );
  t.throws(
    () => createDomainHandlers([serving('a', { allowedMethods: { '/posts': anyone } }), serving('b', { allowedMethods: { '/posts': anyone } })], {}),
    new CompositionError('the permission function of /posts is served by both "a" and "b"'),
  );
  const both = createDomainHandlers([serving('a', { v1: { getPost }, allowedMethods: { '/posts': anyone } }), serving('b', { v2: { getPost } })], {});
  t.equal(both.v1.getPost, getPost);
  t.equal((both.v2 as unknown as Record<string, unknown>).getPost, getPost, 'one operationId in each version: not a clash');
  t.same(Object.keys(both.v2.allowedMethods), ['/posts'], 'both versions share the permission functions');
});

t.test('a new domain joins the real list by one entry: built on the public services and events of others, none of them edited', async (t) => {
  // What the notifications and messages domains are to the rest: a descriptor of their own that
  // needs other domains' public services and subscribes to their events. Nothing else changes.
  const heard: string[] = [];
  const bookmarks = defineDomain({
    name: 'bookmarks',
    needs: ['accounts', 'posts'],
    entities: [],
    migrations: {},
    create: (_context, needed: Pick<Services, 'accounts' | 'posts'>) => ({ bookmarks: { given: Object.keys(needed).sort(), needed } }),
    subscribe: (events) => {
      events.on('post.published', ({ postId }) => void heard.push(`post ${postId}`));
    },
  });
  const events = new DomainEvents();
  const list = [...domains, bookmarks];
  t.same(names(buildOrder(list)).at(-1), 'bookmarks');
  const services = createDomainServices(list, { ...context, events }) as unknown as Services & {
    bookmarks: { given: string[]; needed: Pick<Services, 'accounts' | 'posts'> };
  };
  t.same(services.bookmarks.given, ['accounts', 'posts', 'sessions'], 'it gets the services of the domains it needs (accounts has two)');
  t.equal(services.bookmarks.needed.posts, services.posts, 'the same services as everyone else');
  t.equal(services.bookmarks.needed.accounts, services.accounts);
  t.same(
    Object.keys(services).sort(),
    [...Object.keys(createServices(context)), 'bookmarks'].sort(),
    'the other domains are built as before',
  );
  await events.emit('post.published', { postId: 'p1', authorId: 'a1', channelId: null, text: 'hi', createdAt: new Date(0).toISOString() });
  t.same(heard, ['post p1'], "it hears the others' events through its own subscription");
  t.same(names(buildOrder(domains)), names(buildOrder(list)).slice(0, -1), 'the rest of the list is untouched');
});

/** operationId → the domains whose handlers serve it, for one version of the real list. */
function servedBy(version: 'v1' | 'v2'): Map<string, string[]> {
  const served = new Map<string, string[]>();
  for (const d of domains) {
    for (const operationId of Object.keys(d.handlers?.({} as never)?.[version] ?? {})) {
      served.set(operationId, [...(served.get(operationId) ?? []), d.name]);
    }
  }
  return served;
}

function operationsOf(document: OpenApiDocument): string[] {
  const methods: readonly string[] = HTTP_METHODS.filter((method) => method !== 'options');
  return Object.values(document.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([method]) => methods.includes(method))
      .map(([, operation]) => (operation as { operationId: string }).operationId),
  );
}

t.test('the real list: every operation of both contracts is served by exactly one domain', async (t) => {
  for (const [version, document] of [['v1', loadSpec().document], ['v2', loadSpec(specV2Path).document]] as const) {
    const served = servedBy(version);
    const operations = operationsOf(document);
    t.ok(operations.length > 0, `${version} has operations`);
    for (const operationId of operations) t.equal(served.get(operationId)?.length, 1, `${version} ${operationId}: ${served.get(operationId)?.join(', ') ?? 'no domain'}`);
    t.same([...served.keys()].filter((id) => !operations.includes(id)), [], `${version}: no handler for an operation the contract does not have`);
  }
  const handlers = createHandlers({} as Services);
  t.same(Object.keys(handlers.v2.allowedMethods), Object.keys(handlers.v1.allowedMethods), 'one set of permission functions for both versions');
});

t.test('the real list: its services, and the migrations of src/persistence/migrations each listed by one domain', async (t) => {
  t.same(names(buildOrder(domains)), ['accounts', 'social', 'channels', 'posts', 'messages', 'notifications', 'stream', 'idempotency', 'timelines']);
  t.same(Object.keys(createServices(context)).sort(), ['accounts', 'channels', 'idempotency', 'messages', 'notifications', 'posts', 'sessions', 'social', 'stream', 'timelines']);

  const files = readdirSync(migrationsDir)
    .filter((file) => /\.(?:ts|js)$/.test(file) && !file.endsWith('.d.ts'))
    .map((file) => file.replace(/\.(?:ts|js)$/, ''))
    .sort();
  t.same(persistence.migrations.map((m) => m.name), files, 'every migration file, once, in the order of the names (a file no domain lists would never run)');
  t.ok(persistence.migrations.every((m) => m.class.name === m.name), 'each under its class name');
  t.equal(new Set(persistence.entities).size, persistence.entities.length, 'no entity twice');
  t.equal(persistence.entities.length, domains.reduce((n, d) => n + d.entities.length, 0));
});
