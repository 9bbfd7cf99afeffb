// Domain events: how a domain tells the others that something happened without knowing who
// cares (accounts do not know that posts exist). Three kinds of delivery:
//
// - In-process (`on` / `emit`), for what must be done before the request answers (evicting
//   this instance's caches). Listeners are wired by the composition root and awaited in order,
//   so the effects are done when `emit` returns; a failing listener does not stop the others, and
//   `emit` then throws all their errors at once.
// - Durable (`consume` / `publish`), a transactional outbox on the job queue: `publish` enqueues,
//   in the unit of work of the write that causes the event, one job per durable consumer of it.
//   The jobs exist once that write commits and never if it rolls back; a worker runs each
//   consumer's handler in the job's own unit of work (src/jobs/domain-events.ts), retried with
//   backoff until it succeeds or ends in the dead letters. Handlers must therefore be idempotent
//   (a job repeated after a crash must have its effect once), and payloads must be JSON-safe
//   (a time is an ISO string, not a Date): they travel as the job's data.
// - Both, for clean-ups (`cleanUp`): what a deletion leaves in other domains (account.closed,
//   channels.deleted, post.deleted, message.deleted). The deleting write publishes the event in
//   its unit of work, then emits it once committed: the clean-up is done before the request
//   answers, and its job does it again (a no-op, since clean-ups are idempotent) or for the
//   first time when the process died in between or the in-process attempt failed (the consuming
//   domain served apart, and down). Such a failure is then reported (`onDeferred`), not thrown:
//   the deletion is done, and so will its clean-up be.
import { ServiceUnavailable } from './errors.ts';
import type { UnitOfWork } from './unit-of-work.ts';

/**
 * Every event a domain may publish, with what it carries. Each domain declares its own, in its
 * services folder's events.ts (declaration merging), so this file lists none:
 *
 *     declare module '../events.ts' {
 *       interface DomainEventMap { 'account.closed': AccountClosed }
 *     }
 */
export interface DomainEventMap {}

export type DomainEventName = keyof DomainEventMap;
export type DomainEventListener<K extends DomainEventName> = (payload: DomainEventMap[K]) => Promise<void> | void;
/** A durable consumer's handler: its writes go through `uow`, which commits with the job's completion. */
export type DurableHandler<K extends DomainEventName> = (payload: DomainEventMap[K], uow: UnitOfWork) => Promise<void>;

/** What a durable event's job carries. */
export interface EventJob {
  event: string;
  payload: unknown;
}

/** Enqueues one job on `queue` in `uow` (the job queue's `send`, bound by the composition root). */
export type Enqueue = (uow: UnitOfWork, queue: string, job: EventJob) => Promise<void>;

/** One consuming domain's durable subscriptions: the jobs of its queue, and how to run them. */
export interface DurableConsumer {
  /** The consuming domain (e.g. `notifications`). */
  consumer: string;
  /** Its queue, created by a migration: `events.<consumer>`. */
  queue: string;
  /** The events it consumes. */
  events: DomainEventName[];
  /** The key a batch runs `event`'s job for `payload` in the order of (see `consume`'s `orderKey`), when it has one. */
  orderKey(event: string, payload: unknown): string | undefined;
  /** Runs the handler of `event` in the job's unit of work; an event it does not consume is an error. */
  handle(event: string, payload: unknown, uow: UnitOfWork): Promise<void>;
  /** Whether `event`'s consumer takes several publications at once (`consume`'s `many`). */
  handlesMany(event: string): boolean;
  /** Runs the handler of `event` for several publications at once (`many`), in this order, in one unit of work. */
  handleMany(event: string, payloads: readonly unknown[], uow: UnitOfWork): Promise<void>;
}

/** The queue of a consuming domain's durable events. */
export function eventQueue(consumer: string): string {
  return `events.${consumer}`;
}

/** An in-process listener; `consumer`, for a clean-up's, whose job does it again (see `cleanUp`). */
interface Listener {
  listener: DomainEventListener<never>;
  consumer?: string;
}

/** Told of a clean-up that failed in process and is left to its job: the event, the consuming domain, the error. */
export type DeferredCleanUp = (event: DomainEventName, consumer: string, error: unknown) => void;

/** One durable subscription of a consuming domain to an event: its handler and `consume`'s options. */
interface Subscription {
  handler: DurableHandler<never>;
  when?: (payload: never) => boolean;
  orderKey?: (payload: never) => string;
  many?: (payloads: never[], uow: UnitOfWork) => Promise<void>;
}

export class DomainEvents {
  readonly #listeners = new Map<DomainEventName, Listener[]>();
  /** By consuming domain, then by event: its durable subscription (see `consume`). */
  readonly #durable = new Map<string, Map<DomainEventName, Subscription>>();
  /**
   * Where `publish` enqueues: undefined until the composition root decides, null for a process
   * started without a job queue (see `withoutQueue`).
   */
  #enqueue: Enqueue | null | undefined;
  #onDeferred: DeferredCleanUp | undefined;

  on<K extends DomainEventName>(name: K, listener: DomainEventListener<K>): void {
    this.#listen(name, { listener: listener as DomainEventListener<never> });
  }

  #listen(name: DomainEventName, listener: Listener): void {
    const list = this.#listeners.get(name) ?? [];
    list.push(listener);
    this.#listeners.set(name, list);
  }

  /**
   * `consumer` (a domain) cleans up after `name` (a deletion elsewhere) twice over: in process,
   * when the deleting write has committed and `emit`s it, so that the request answers with it
   * done; and durably, a job of its queue that the write enqueued with itself (`publish`), which
   * does it again, or for the first time when the process died before, or the in-process attempt
   * failed. `cleanUp` must therefore be idempotent, and an event consumed so must be published in
   * its write's unit of work before it is emitted.
   */
  cleanUp<K extends DomainEventName>(name: K, consumer: string, cleanUp: (payload: DomainEventMap[K]) => Promise<void>): void {
    this.consume(name, consumer, (payload) => cleanUp(payload));
    this.#listen(name, { listener: cleanUp as DomainEventListener<never>, consumer });
  }

  /**
   * Runs the in-process listeners of `name`, in the order they were added. A clean-up that fails
   * is reported to `onDeferred` when its job exists (a job queue is attached); any other failure
   * is thrown, after every listener has run.
   */
  async emit<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): Promise<void> {
    const failures: unknown[] = [];
    for (const { listener, consumer } of this.#listeners.get(name) ?? []) {
      try {
        await (listener as DomainEventListener<K>)(payload);
      } catch (error) {
        if (consumer !== undefined && typeof this.#enqueue === 'function') this.#onDeferred?.(name, consumer, error);
        else failures.push(error);
      }
    }
    // A listener whose domain is unreachable (served apart, and down) fails the emitter's request
    // as unavailable, with its Retry-After, rather than as an error of the server.
    const unavailable = failures.find((failure) => failure instanceof ServiceUnavailable);
    if (unavailable) throw unavailable;
    if (failures.length === 1) throw failures[0];
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} listener(s) of ${name} failed`);
  }

  /** `consumer` (a domain) handles `name` durably: once per publication, in a job of its queue. */
  consume<K extends DomainEventName>(
    name: K,
    consumer: string,
    handler: DurableHandler<K>,
    options: {
      /**
       * Which publications concern the consumer, decided at publication: the others enqueue no
       * job (a post that mentions nobody, outside any channel, notifies nobody).
       */
      when?: (payload: DomainEventMap[K]) => boolean;
      /**
       * A worker that runs several jobs of the queue in one transaction runs them in this key's
       * order. It begins with the key of the lock the handler takes for a payload (a
       * conversation's, say), so that two such transactions never each hold a lock the other
       * waits for; what follows orders the jobs of one lock.
       */
      orderKey?: (payload: DomainEventMap[K]) => string;
      /**
       * The handler for several publications at once, in the order given (the jobs' keys'
       * order), with the effect of `handler` run on each in turn: a worker that runs a batch
       * of the queue's jobs hands it the adjacent jobs of this event together (one statement
       * for all of them, say). When it fails, each job runs alone through `handler`.
       */
      many?: (payloads: DomainEventMap[K][], uow: UnitOfWork) => Promise<void>;
    } = {},
  ): void {
    const subscriptions = this.#durable.get(consumer) ?? new Map<DomainEventName, Subscription>();
    if (subscriptions.has(name)) throw new Error(`${consumer} already consumes ${name}`);
    // Stored without their event's type (`never`): each is called only with its own event's payloads.
    subscriptions.set(name, {
      handler: handler as DurableHandler<never>,
      when: options.when as Subscription['when'],
      orderKey: options.orderKey as Subscription['orderKey'],
      many: options.many as Subscription['many'],
    });
    this.#durable.set(consumer, subscriptions);
  }

  /** The durable consumers this publication concerns. */
  #concerned<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): string[] {
    return [...this.#durable]
      .filter(([, subscriptions]) => {
        const subscription = subscriptions.get(name);
        return subscription !== undefined && (subscription.when?.(payload as never) ?? true);
      })
      .map(([consumer]) => consumer);
  }

  /**
   * Whether publishing this would enqueue anything: a writer that has no unit of work of its own
   * opens one only then (otherwise its single statement needs no transaction).
   */
  concerns<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): boolean {
    return this.#enqueue !== null && this.#concerned(name, payload).length > 0;
  }

  /** Whether publishing `name` may enqueue anything (it has durable consumers, and there is a job queue). */
  publishes(name: DomainEventName): boolean {
    return this.#enqueue !== null && [...this.#durable.values()].some((subscriptions) => subscriptions.has(name));
  }

  /**
   * Enqueues `name` for each of its durable consumers, in `uow`: the unit of work of the write
   * that caused it, so that the jobs commit (or roll back) with that write.
   */
  async publish<K extends DomainEventName>(name: K, payload: DomainEventMap[K], uow: UnitOfWork): Promise<void> {
    const consumers = this.#concerned(name, payload);
    if (consumers.length === 0) return;
    if (this.#enqueue === undefined) throw new Error(`${name} was published before the job queue was attached to the domain events`);
    // A process deliberately started without a job queue (tests that do not exercise the
    // consumers) has nowhere to put the jobs: its events reach no durable consumer.
    if (this.#enqueue === null) return;
    for (const consumer of consumers) await this.#enqueue(uow, eventQueue(consumer), { event: name, payload });
  }

  /** From now on `publish` enqueues through `enqueue` (the job queue, once started). */
  attach(enqueue: Enqueue): void {
    this.#enqueue = enqueue;
  }

  /** Where clean-ups that failed in process, and are left to their jobs, are reported (the log). */
  onDeferred(report: DeferredCleanUp): void {
    this.#onDeferred = report;
  }

  /** This process has no job queue: `publish` enqueues nothing (tests that do not need the consumers). */
  withoutQueue(): void {
    this.#enqueue = null;
  }

  /** The durable consumers, one per consuming domain, for the worker to run. */
  get consumers(): DurableConsumer[] {
    return [...this.#durable].map(([consumer, subscriptions]) => {
      const subscription = (event: string) => subscriptions.get(event as DomainEventName);
      return {
        consumer,
        queue: eventQueue(consumer),
        events: [...subscriptions.keys()],
        orderKey: (event, payload) => subscription(event)?.orderKey?.(payload as never),
        async handle(event, payload, uow) {
          const found = subscription(event);
          if (!found) throw new Error(`${consumer} does not consume ${event}`);
          await found.handler(payload as never, uow);
        },
        handlesMany: (event) => subscription(event)?.many !== undefined,
        async handleMany(event, payloads, uow) {
          const many = subscription(event)?.many;
          if (!many) throw new Error(`${consumer} does not consume ${event} several at once`);
          await many(payloads as never[], uow);
        },
      };
    });
  }
}

/**
 * Runs `write` and publishes the event `eventOf` finds in its result (none: null) in the same
 * unit of work, which `begin` opens, when `name` may enqueue anything; otherwise `write` runs alone
 * (`uow` undefined: a single statement needs no transaction). For a deletion, whose clean-ups'
 * jobs must commit with it (`DomainEvents.cleanUp`); the caller emits the event once this returns.
 */
export async function publishing<K extends DomainEventName, T>(
  events: DomainEvents | undefined,
  name: K,
  write: (uow: UnitOfWork | undefined) => Promise<T>,
  eventOf: (result: T) => DomainEventMap[K] | null,
  begin: (work: (uow: UnitOfWork) => Promise<T>) => Promise<T>,
): Promise<T> {
  if (!events?.publishes(name)) return write(undefined);
  return begin(async (uow) => {
    const result = await write(uow);
    const event = eventOf(result);
    if (event) await events.publish(name, event, uow);
    return result;
  });
}
