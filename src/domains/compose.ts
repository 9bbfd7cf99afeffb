// From the domain list to what the server runs: the services, built in the order of their needs
// and wired to each other's events; the handlers of both API versions, each operation served by
// exactly one domain; and what the ORM needs to know of the database. A list that cannot be
// built (a domain needing one that is not listed, a cycle, an operation or a cache topic claimed
// twice) stops the start-up with an error that names the domains.
import type { AllowedMethods, Handlers, HandlersV2 } from '../handlers/index.ts';
import type { DomainPersistence } from '../persistence/orm.ts';
import { PROBE_TOPIC } from '../persistence/invalidations.ts';
import type { Caching } from '../services/cache.ts';
import { DomainEvents } from '../services/events.ts';
import type { RemoteClient } from '../remote/client.ts';
import type { InternalBinding } from '../remote/server.ts';
import type { AnyDomain, DomainContext, ServicesOf } from './domain.ts';

/** The domain list cannot be composed; the message says which domains and why. */
export class CompositionError extends Error {
  override name = 'CompositionError';
}

/** The domains, each after those it needs (otherwise in the list's order). */
export function buildOrder(domains: readonly AnyDomain[]): AnyDomain[] {
  const byName = new Map<string, AnyDomain>();
  for (const domain of domains) {
    if (byName.has(domain.name)) throw new CompositionError(`two domains are named "${domain.name}"`);
    byName.set(domain.name, domain);
  }
  const order: AnyDomain[] = [];
  const placed = new Set<string>();
  const place = (domain: AnyDomain, path: readonly string[]) => {
    if (placed.has(domain.name)) return;
    if (path.includes(domain.name)) {
      const cycle = [...path.slice(path.indexOf(domain.name)), domain.name];
      throw new CompositionError(`domains need each other in a cycle: ${cycle.join(' → ')}`);
    }
    for (const name of domain.needs) {
      const needed = byName.get(name);
      if (!needed) throw new CompositionError(`domain "${domain.name}" needs "${name}", which is not in the domain list`);
      place(needed, [...path, domain.name]);
    }
    placed.add(domain.name);
    order.push(domain);
  };
  for (const domain of domains) place(domain, []);
  return order;
}

/**
 * `caching` for one domain: its caches may listen only to the topics it declares, so that two
 * domains never read each other's notifications as their own.
 */
function scopedCaching(caching: Caching, domain: AnyDomain): Caching {
  const topics = new Set(domain.cacheTopics ?? []);
  const source = caching.source;
  return {
    ...caching,
    source: {
      get fresh() {
        return source.fresh;
      },
      get clockOffsetMs() {
        return source.clockOffsetMs;
      },
      on(topic, listener) {
        if (!topics.has(topic)) {
          throw new CompositionError(`domain "${domain.name}" listens to cache topic "${topic}", which its cacheTopics do not declare`);
        }
        source.on(topic, listener);
      },
      onReset: (listener) => source.onReset(listener),
      sync: (timeoutMs) => source.sync(timeoutMs),
    },
  };
}

function checkCacheTopics(domains: readonly AnyDomain[]): void {
  const owners = new Map<string, string>([[PROBE_TOPIC, 'the invalidation listener (its probes)']]);
  for (const domain of domains) {
    for (const topic of domain.cacheTopics ?? []) {
      const owner = owners.get(topic);
      if (owner !== undefined) throw new CompositionError(`cache topic "${topic}" of domain "${domain.name}" is already taken by ${owner}`);
      owners.set(topic, `domain "${domain.name}"`);
    }
  }
}

/** The domains of the list that can be served by a process of their own (they have a `remote` part). */
export function servableApart(domains: readonly AnyDomain[]): string[] {
  return domains.filter((domain) => domain.remote !== undefined).map((domain) => domain.name);
}

/**
 * Refuses `names` (from `setting`, e.g. SERVE_DOMAINS) unless each is a domain that can be served
 * apart; the message names those that can.
 */
export function checkServableApart(domains: readonly AnyDomain[], names: readonly string[], setting: (name: string) => string): void {
  const servable = servableApart(domains);
  for (const name of names) {
    if (servable.includes(name)) continue;
    const known = domains.some((domain) => domain.name === name);
    throw new CompositionError(
      `${setting(name)}: ${known ? `domain "${name}" has no internal contract, so it cannot be served apart` : `there is no domain "${name}"`}; ` +
        `the domains that can be served apart are: ${servable.join(', ') || 'none'}`,
    );
  }
}

/** The internal APIs of the domains `names`, over `services` (a domain server's routes). */
export function domainBindings(domains: readonly AnyDomain[], names: readonly string[], services: object): InternalBinding[] {
  checkServableApart(domains, names, (name) => `SERVE_DOMAINS=${name}`);
  return names.map((name) => domains.find((domain) => domain.name === name)!.remote!.serve(services));
}

/**
 * Every domain's services, built in the order of their needs, then subscribed to each other's
 * events. A domain for which `remotes` has a client is its stub instead (it is served by another
 * process); its handlers and subscriptions use the stub like any service.
 */
export function createDomainServices<const D extends readonly AnyDomain[]>(
  domains: D,
  context: Omit<DomainContext, 'events'> & { events?: DomainEvents; remotes?: Readonly<Record<string, RemoteClient<any>>> },
): ServicesOf<D> {
  const remotes = context.remotes ?? {};
  checkServableApart(domains, Object.keys(remotes), (name) => `${name.toUpperCase()}_SERVICE_URL`);
  checkCacheTopics(domains);
  // The composition root passes its own when it must reach them later (the job queue's consumers,
  // and where `publish` enqueues: src/boot.ts).
  const events = context.events ?? new DomainEvents();
  const built = new Map<string, object>();
  const owners = new Map<string, string>();
  const services: Record<string, unknown> = {};
  const order = buildOrder(domains);
  for (const domain of order) {
    const needed = Object.assign({}, ...domain.needs.map((name) => built.get(name)));
    const client = remotes[domain.name];
    const own = client ? domain.remote!.stub(client, needed) : domain.create({ ...context, caching: scopedCaching(context.caching, domain), events }, needed);
    for (const key of Object.keys(own)) {
      const owner = owners.get(key);
      if (owner !== undefined) throw new CompositionError(`services.${key} is built by both "${owner}" and "${domain.name}"`);
      owners.set(key, domain.name);
    }
    built.set(domain.name, own);
    Object.assign(services, own);
  }
  // Listeners run in the order they were added: the domains' order, each after those it needs.
  // (`subscribe` and `handlers` get every service; their types let a domain use only its own and
  // its needs'.)
  for (const domain of order) domain.subscribe?.(events, services);
  return services as ServicesOf<D>;
}

/**
 * The handlers of both API versions over `services`: every operation and every path's permission
 * function from exactly one domain. One permission map serves both versions (v2 serves some of
 * v1's paths). A missing operation is refused by the app when it binds the contract.
 */
export function createDomainHandlers(domains: readonly AnyDomain[], services: object): { v1: Handlers; v2: HandlersV2 } {
  const v1: Record<string, unknown> = {};
  const v2: Record<string, unknown> = {};
  const allowedMethods: AllowedMethods = {};
  const owners = new Map<string, string>();
  const claim = (what: string, domain: AnyDomain) => {
    const owner = owners.get(what);
    if (owner !== undefined) throw new CompositionError(`${what} is served by both "${owner}" and "${domain.name}"`);
    owners.set(what, domain.name);
  };
  for (const domain of buildOrder(domains)) {
    const part = domain.handlers?.(services);
    if (!part) continue;
    for (const [operationId, handler] of Object.entries(part.v1 ?? {})) {
      claim(`operation ${operationId} (v1)`, domain);
      v1[operationId] = handler;
    }
    for (const [operationId, handler] of Object.entries(part.v2 ?? {})) {
      claim(`operation ${operationId} (v2)`, domain);
      v2[operationId] = handler;
    }
    for (const [path, permission] of Object.entries(part.allowedMethods ?? {})) {
      claim(`the permission function of ${path}`, domain);
      allowedMethods[path] = permission;
    }
  }
  return { v1: { ...v1, allowedMethods } as Handlers, v2: { ...v2, allowedMethods } as HandlersV2 };
}

/**
 * Every domain's entities, and every migration in the order of their names: the domains' own and
 * those of the shared infrastructure (`shared`, e.g. the job queue's schema), which no domain owns.
 */
export function domainPersistence(
  domains: readonly AnyDomain[],
  shared: Readonly<Record<string, DomainPersistence['migrations'][number]['class']>> = {},
): DomainPersistence {
  const owners = new Map<string, string>();
  const migrations: DomainPersistence['migrations'][number][] = [];
  for (const domain of [...domains, { name: 'shared infrastructure', migrations: shared }]) {
    for (const [name, migration] of Object.entries(domain.migrations)) {
      const owner = owners.get(name);
      if (owner !== undefined) throw new CompositionError(`migration ${name} is listed by both "${owner}" and "${domain.name}"`);
      owners.set(name, domain.name);
      migrations.push({ name, class: migration });
    }
  }
  migrations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entities: domains.flatMap((domain) => domain.entities), migrations };
}
