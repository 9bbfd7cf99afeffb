// Domain events: how a domain tells the others that something happened without knowing who
// cares (accounts do not know that posts exist). Two kinds of delivery:
//
// - In-process (`on` / `emit`), for synchronous clean-ups that must be done before the request
//   answers (account.closed, channels.deleted). Listeners are wired by the composition root and
//   awaited in order, so the effects are done when `emit` returns; a failing listener does not
//   stop the others, and `emit` then throws all their errors at once.
// - Durable (`consume` / `publish`), a transactional outbox on the job queue: `publish` enqueues,
//   in the unit of work of the write that causes the event, one job per durable consumer of it.
//   The jobs exist once that write commits and never if it rolls back; a worker runs each
//   consumer's handler in the job's own unit of work (src/jobs/domain-events.ts), retried with
//   backoff until it succeeds or ends in the dead letters. Handlers must therefore be idempotent
//   (a job repeated after a crash must have its effect once), and payloads must be JSON-safe
//   (a time is an ISO string, not a Date): they travel as the job's data.
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
  /** Runs the handler of `event` in the job's unit of work; an event it does not consume is an error. */
  handle(event: string, payload: unknown, uow: UnitOfWork): Promise<void>;
}

/** The queue of a consuming domain's durable events. */
export function eventQueue(consumer: string): string {
  return `events.${consumer}`;
}

export class DomainEvents {
  readonly #listeners = new Map<DomainEventName, DomainEventListener<never>[]>();
  /** By consuming domain, then by event. */
  readonly #durable = new Map<string, Map<DomainEventName, DurableHandler<never>>>();
  /** By consuming domain, then by event: which publications concern it (all, when absent). */
  readonly #filters = new Map<string, Map<DomainEventName, (payload: never) => boolean>>();
  /**
   * Where `publish` enqueues: undefined until the composition root decides, null for a process
   * started without a job queue (see `withoutQueue`).
   */
  #enqueue: Enqueue | null | undefined;

  on<K extends DomainEventName>(name: K, listener: DomainEventListener<K>): void {
    const list = this.#listeners.get(name) ?? [];
    list.push(listener as DomainEventListener<never>);
    this.#listeners.set(name, list);
  }

  async emit<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): Promise<void> {
    const failures: unknown[] = [];
    for (const listener of this.#listeners.get(name) ?? []) {
      try {
        await (listener as DomainEventListener<K>)(payload);
      } catch (error) {
        failures.push(error);
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
    } = {},
  ): void {
    const handlers = this.#durable.get(consumer) ?? new Map<DomainEventName, DurableHandler<never>>();
    if (handlers.has(name)) throw new Error(`${consumer} already consumes ${name}`);
    handlers.set(name, handler as DurableHandler<never>);
    this.#durable.set(consumer, handlers);
    if (options.when) {
      const filters = this.#filters.get(consumer) ?? new Map<DomainEventName, (payload: never) => boolean>();
      filters.set(name, options.when as (payload: never) => boolean);
      this.#filters.set(consumer, filters);
    }
  }

  /** The durable consumers this publication concerns. */
  #concerned<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): string[] {
    return [...this.#durable]
      .filter(([consumer, handlers]) => handlers.has(name) && (this.#filters.get(consumer)?.get(name)?.(payload as never) ?? true))
      .map(([consumer]) => consumer);
  }

  /**
   * Whether publishing this would enqueue anything: a writer that has no unit of work of its own
   * opens one only then (otherwise its single statement needs no transaction).
   */
  concerns<K extends DomainEventName>(name: K, payload: DomainEventMap[K]): boolean {
    return this.#enqueue !== null && this.#concerned(name, payload).length > 0;
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

  /** This process has no job queue: `publish` enqueues nothing (tests that do not need the consumers). */
  withoutQueue(): void {
    this.#enqueue = null;
  }

  /** The durable consumers, one per consuming domain, for the worker to run. */
  get consumers(): DurableConsumer[] {
    return [...this.#durable].map(([consumer, handlers]) => ({
      consumer,
      queue: eventQueue(consumer),
      events: [...handlers.keys()],
      async handle(event, payload, uow) {
        const handler = handlers.get(event as DomainEventName);
        if (!handler) throw new Error(`${consumer} does not consume ${event}`);
        await handler(payload as never, uow);
      },
    }));
  }
}
