// What a domain is to the composition root: one descriptor per domain (src/domains/<name>.ts)
// saying how to build its services from the public services of the domains it needs, which
// operations of the contract it serves, what it keeps in the database, which cache topics it
// listens to, and which other domains' events it reacts to. The root (src/domains/index.ts)
// lists the descriptors once; src/domains/compose.ts turns the list into services, handlers and
// the ORM's entities and migrations.
import type { Config } from '../config.ts';
import type { AllowedMethods, Handlers, HandlersV2 } from '../handlers/index.ts';
import type { Log } from '../log.ts';
import type { RemoteClient } from '../remote/client.ts';
import type { InternalBinding } from '../remote/server.ts';
import type { DomainPersistence } from '../persistence/orm.ts';
import type { Database } from '../persistence/sql.ts';
import type { Caching } from '../services/cache.ts';
import type { DomainEvents } from '../services/events.ts';
import type { StreamTransport } from '../services/stream-transport.ts';

/** What a domain's services are built from, beside the services of the domains it needs. */
export interface DomainContext {
  /** The pool its stores run their SQL on (src/persistence/sql.ts). */
  database: Database;
  config: Config;
  log: Log;
  /** Its caches' source: it may listen only to the topics its descriptor declares. */
  caching: Caching;
  /** To publish its own events (each domain declares them: src/services/events.ts). */
  events: DomainEvents;
  /**
   * What carries the live streams across instances (the invalidation listener's wake-ups and
   * advisory locks); without it, streams are woken by their periodic recheck only and capped per
   * instance. Only the stream domain uses it.
   */
  streams?: StreamTransport;
}

/**
 * How a domain is served by a process of its own: its internal contract (an OpenAPI document
 * whose generated types both sides use), the domain server's side (SERVE_DOMAINS=<name>), and
 * the stub that stands for its services elsewhere (<NAME>_SERVICE_URL). A domain without it is
 * always served in process.
 */
export interface DomainRemote<S extends object, N extends object> {
  /** Its internal contract, e.g. internal/social.openapi.yaml. */
  contract: URL;
  /** Its internal operations over its services in this process (a domain server's routes). */
  serve(services: S & N): InternalBinding;
  /** Its services, implemented by calling a domain server through `client`. */
  stub(client: RemoteClient<any>, needed: N): S;
}

/** The part of the contract a domain serves: handlers by operationId, permission functions by path. */
export interface DomainHandlers {
  v1?: Partial<Omit<Handlers, 'allowedMethods'>>;
  v2?: Partial<Omit<HandlersV2, 'allowedMethods'>>;
  /** For OPTIONS, one per path template of its resources, shared by both versions. */
  allowedMethods?: AllowedMethods;
}

/**
 * One domain. `Name` is its name in `needs`; `S` its public services (`services.<key>`), built by
 * `create`; `N` the services of other domains that `create`, `handlers` and `subscribe` use, which
 * the domains named in `Needs` must provide (the domain list checks it when it compiles).
 */
export interface Domain<Name extends string = string, S extends object = object, N extends object = object, Needs extends string = string> {
  name: Name;
  /** The domains whose services this one uses: built first, and handed to it. */
  needs: readonly Needs[];
  /** Its tables (its own PostgreSQL schema), as MikroORM entities. */
  entities: DomainPersistence['entities'];
  /**
   * The migrations that make and change its schema, by the name the database records them by
   * (the class name: `{ Migration20261123203244 }`). They live in src/persistence/migrations/.
   */
  migrations: Readonly<Record<string, DomainPersistence['migrations'][number]['class']>>;
  /**
   * The invalidation topics its caches listen to (the prefix its triggers' `NOTIFY` gives, see
   * src/persistence/invalidations.ts): one domain per topic.
   */
  cacheTopics?: readonly string[];
  create(context: DomainContext, needed: N): S;
  /** How it is served apart, if it can be (see DomainRemote). */
  remote?: DomainRemote<S, N>;
  /** The operations it serves, over its own services and those it needs. */
  handlers?(services: S & N): DomainHandlers;
  /**
   * Reacts to other domains' events, after every domain is built: in-process listeners (`on`),
   * durable consumers (`consume(event, <its name>, …)`, jobs of its queue `events.<its name>`,
   * which a migration creates), and clean-ups after deletions, which are both (`cleanUp`).
   */
  subscribe?(events: DomainEvents, services: S & N): void;
}

/** A domain whatever its services (method parameters are bivariant, so every domain is one). */
export type AnyDomain = Domain<string, any, any, string>;

/** A descriptor, its types inferred (`needs` as literal names). */
export function defineDomain<const Name extends string, S extends object, N extends object = object, const Needs extends string = never>(
  domain: Domain<Name, S, N, Needs>,
): Domain<Name, S, N, Needs> {
  return domain;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Flat<T> = { [K in keyof T]: T[K] };

/** The services of the domains of `D` named in `Names`. */
type ServicesNamed<D extends readonly AnyDomain[], Names> = UnionToIntersection<
  D[number] extends infer E ? (E extends Domain<infer Name, infer S, any, string> ? (Name extends Names ? S : never) : never) : never
>;

/** Every service of the domains of `D`, by key: `services.accounts`, `services.posts`... */
export type ServicesOf<D extends readonly AnyDomain[]> = Flat<ServicesNamed<D, string>>;

/** Each domain of `D`, or a message where the domains it needs do not provide what it takes. */
export type NeedsChecked<D extends readonly AnyDomain[]> = {
  [I in keyof D]: D[I] extends Domain<infer Name, any, infer N, infer Needs>
    ? ServicesNamed<D, Needs> & {} extends N
      ? D[I]
      : `domain "${Name}" takes services that the domains in its needs do not provide`
    : D[I];
};

/**
 * The domain list, checked when it compiles: every domain gets, from the domains it names in
 * `needs`, the services (and their types) that it takes. Start-up checks the rest (compose.ts).
 */
export function domainList<const D extends readonly AnyDomain[]>(...domains: D & NeedsChecked<D>): D {
  return domains;
}
