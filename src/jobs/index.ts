// The worker layer, a peer of src/handlers/: what runs outside requests. Consumers are thin (a
// job's handler calls a service method) and use services only through their index.ts; pg-boss
// itself stays in queue.ts.
import type { FastifyBaseLogger } from 'fastify';
import type { SessionsService } from '../services/accounts/index.ts';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import { purgeIdempotencyKeys, purgeIdempotencyKeysSchedule } from './purge-idempotency-keys.ts';
import { purgeSessions, purgeSessionsSchedule } from './purge-sessions.ts';
import type { Consumer, Schedule } from './queue.ts';

export { eventConsumers, type DurableEventConsumer } from './domain-events.ts';
export { JobQueue, type AttemptOutcome, type Consumer, type JobContext, type JobData, type JobsContext, type QueueBacklog, type Schedule } from './queue.ts';

/** Where failed jobs end up after their last retry (created by the migrations, consumed by no one). */
export const DEAD_LETTERS = 'dead-letters';

/** Agora's queues (as the migrations create them). */
export const QUEUES = ['purge-sessions', 'purge-idempotency-keys', DEAD_LETTERS] as const;

/** Agora's consumers and schedules. */
export function agoraJobs(services: { sessions: SessionsService; idempotency: IdempotencyService }, log: FastifyBaseLogger): { consumers: Consumer[]; schedules: Schedule[] } {
  return {
    consumers: [purgeSessions(services.sessions, log), purgeIdempotencyKeys(services.idempotency, log)],
    schedules: [purgeSessionsSchedule, purgeIdempotencyKeysSchedule],
  };
}
