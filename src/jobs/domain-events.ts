// The durable domain events' consumers (src/services/events.ts): one per consuming domain, each
// running the jobs of its queue `events.<domain>` (created by a migration). Thin: a job's data is
// `{ event, payload }`, handed to the handler the domain registered with `events.consume`, which
// calls a service method and writes through the job's unit of work, so its effect commits with
// the job's completion. A handler that fails fails the attempt: the queue retries it with
// backoff, then moves it to the dead letters.
import type { FastifyBaseLogger } from 'fastify';
import type { UnitOfWork } from '../persistence/sql.ts';
import type { Consumer } from './queue.ts';

/** What the domain events give the worker (DomainEvents' `consumers`), by shape. */
export interface DurableEventConsumer {
  consumer: string;
  queue: string;
  /** The key a batch of the queue's jobs runs `event`'s job for `payload` in the order of (`Consumer.orderKey`). */
  orderKey?(event: string, payload: unknown): string | undefined;
  handle(event: string, payload: unknown, uow: UnitOfWork): Promise<void>;
  /** Whether `event`'s jobs may run several at once (`handleMany`). */
  handlesMany(event: string): boolean;
  /** Runs `event`'s handler for several publications at once, in this order. */
  handleMany(event: string, payloads: readonly unknown[], uow: UnitOfWork): Promise<void>;
}

/**
 * By consuming domain (1 for the others): `concurrency`, the jobs a worker runs at once;
 * `batchSize`, the jobs each of those fetches at once and runs in one transaction, each in a
 * savepoint; `gatherMs` (0 for the others), how far apart its fetches are spaced while jobs keep
 * coming (`Consumer.gatherMs`). The notifications' queue takes a job for every message sent.
 */
export function eventConsumers(
  consumers: readonly DurableEventConsumer[],
  log: FastifyBaseLogger,
  {
    concurrency = {},
    batchSize = {},
    gatherMs = {},
  }: { concurrency?: Readonly<Record<string, number>>; batchSize?: Readonly<Record<string, number>>; gatherMs?: Readonly<Record<string, number>> } = {},
): Consumer[] {
  return consumers.map((durable) => ({
    queue: durable.queue,
    concurrency: concurrency[durable.consumer] ?? 1,
    batchSize: batchSize[durable.consumer] ?? 1,
    gatherMs: gatherMs[durable.consumer] ?? 0,
    orderKey: (data) => {
      const { event, payload } = data as { event?: unknown; payload?: unknown };
      return typeof event === 'string' ? durable.orderKey?.(event, payload) : undefined;
    },
    async handle(data, job) {
      const { event, payload } = data as { event?: unknown; payload?: unknown };
      if (typeof event !== 'string') throw new Error(`a job of ${durable.queue} carries no event`);
      try {
        await durable.handle(event, payload, job.uow);
      } catch (error) {
        log.warn({ err: error, queue: durable.queue, event, jobId: job.id, retryCount: job.retryCount }, 'a domain event consumer failed; will retry');
        throw error;
      }
    },
    // Adjacent jobs of one event whose consumer takes several at once run together; when that
    // fails, the queue runs each alone, and the one that fails is retried.
    togetherKey: (data) => {
      const { event } = data as { event?: unknown };
      return typeof event === 'string' && durable.handlesMany(event) ? event : undefined;
    },
    async handleTogether(data, jobs) {
      const event = (data[0] as { event: string }).event;
      try {
        await durable.handleMany(event, data.map((job) => (job as { payload?: unknown }).payload), jobs.uow);
      } catch (error) {
        log.warn({ err: error, queue: durable.queue, event, jobs: jobs.ids.length }, 'a domain event consumer failed on jobs run together; each runs alone now');
        throw error;
      }
    },
  }));
}
