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
  handle(event: string, payload: unknown, uow: UnitOfWork): Promise<void>;
}

/**
 * `concurrency`: jobs a worker runs at once, by consuming domain (1 for the others): the
 * notifications' queue takes a job for every message sent.
 */
export function eventConsumers(consumers: readonly DurableEventConsumer[], log: FastifyBaseLogger, concurrency: Readonly<Record<string, number>> = {}): Consumer[] {
  return consumers.map((durable) => ({
    queue: durable.queue,
    concurrency: concurrency[durable.consumer] ?? 1,
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
