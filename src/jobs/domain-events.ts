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
}

/**
 * By consuming domain (1 for the others): `concurrency`, the jobs a worker runs at once;
 * `batchSize`, the jobs each of those fetches at once and runs in one transaction, each in a
 * savepoint. The notifications' queue takes a job for every message sent.
 */
export function eventConsumers(
  consumers: readonly DurableEventConsumer[],
  log: FastifyBaseLogger,
  { concurrency = {}, batchSize = {} }: { concurrency?: Readonly<Record<string, number>>; batchSize?: Readonly<Record<string, number>> } = {},
): Consumer[] {
  return consumers.map((durable) => ({
    queue: durable.queue,
    concurrency: concurrency[durable.consumer] ?? 1,
    batchSize: batchSize[durable.consumer] ?? 1,
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
  }));
}
