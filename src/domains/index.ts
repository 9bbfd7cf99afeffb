// The domains the server is made of, listed once. Adding a domain is its folders
// (src/services/<name>/, src/persistence/<name>/, its handlers), its part of the contract, its
// descriptor (src/domains/<name>.ts) and one entry here: see README.md, "A domain is a module".
import type { Handlers, HandlersV2 } from '../handlers/index.ts';
import { accounts } from './accounts.ts';
import { channels } from './channels.ts';
import { checkServableApart, createDomainHandlers, createDomainServices, domainBindings, domainPersistence, servableApart } from './compose.ts';
import type { RemoteClient } from '../remote/client.ts';
import type { InternalBinding } from '../remote/server.ts';
import { domainList, type DomainContext, type ServicesOf } from './domain.ts';
import type { DomainEvents } from '../services/events.ts';
import { idempotency } from './idempotency.ts';
import { messages } from './messages.ts';
import { notifications } from './notifications.ts';
import { Migration20261202000000 } from '../persistence/migrations/Migration20261202000000.ts';
import { Migration20261202090000 } from '../persistence/migrations/Migration20261202090000.ts';
import { Migration20261204090000 } from '../persistence/migrations/Migration20261204090000.ts';
import { Migration20261206090000 } from '../persistence/migrations/Migration20261206090000.ts';
import { posts } from './posts.ts';
import { social } from './social.ts';
import { stream } from './stream.ts';
import { timelines } from './timelines.ts';

export const domains = domainList(accounts, social, channels, posts, messages, notifications, stream, idempotency, timelines);

/** Every domain's public services: `services.accounts`, `services.sessions`, `services.posts`... */
export type Services = ServicesOf<typeof domains>;

/**
 * What the ORM is opened with: every domain's entities and migrations, and the migrations of what
 * no domain owns: the job queue's schema (pg-boss, src/jobs/) and its queues, the durable domain
 * events' included (the queues of the deletions' clean-ups: Migration20261204090000), which wake
 * their workers after the commit rather than from it (Migration20261206090000).
 */
export const persistence = domainPersistence(domains, { Migration20261202000000, Migration20261202090000, Migration20261204090000, Migration20261206090000 });

/**
 * Every domain's services; `context.events` (when given) is where they publish and subscribe;
 * `context.remotes`, the clients of the domains served by other processes (stubs stand for them).
 */
export function createServices(
  context: Omit<DomainContext, 'events'> & { events?: DomainEvents; remotes?: Readonly<Record<string, RemoteClient<any>>> },
): Services {
  return createDomainServices(domains, context);
}

/** Both API versions' handlers over the services (`services` unused until a handler or permission function runs). */
export function createHandlers(services: Services): { v1: Handlers; v2: HandlersV2 } {
  return createDomainHandlers(domains, services);
}

/** The internal APIs a domain server serves (SERVE_DOMAINS) over its services. */
export function servedBindings(names: readonly string[], services: Services): InternalBinding[] {
  return domainBindings(domains, names, services);
}

/** The domains that can be served by a process of their own. */
export const domainsServableApart = servableApart(domains);

/** Refuses domain names that cannot be served apart; `setting` names where each came from. */
export function checkDomainsApart(names: readonly string[], setting: (name: string) => string): void {
  checkServableApart(domains, names, setting);
}

export { CompositionError } from './compose.ts';
export type { AnyDomain, Domain, DomainContext, DomainHandlers } from './domain.ts';
