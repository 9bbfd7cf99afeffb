// Forgets idempotency keys whose retention (IDEMPOTENCY_TTL_SECONDS) has passed: a job of the
// `purge-idempotency-keys` queue, scheduled every 15 minutes (one run per period, whatever the
// number of workers). Expired keys are already ignored when a request arrives; this keeps the
// table small. A purge that fails is retried with backoff (the queue's policy).
import type { FastifyBaseLogger } from 'fastify';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import type { Consumer, Schedule } from './queue.ts';

export const PURGE_IDEMPOTENCY_KEYS = 'purge-idempotency-keys';

export const purgeIdempotencyKeysSchedule: Schedule = { queue: PURGE_IDEMPOTENCY_KEYS, cron: '*/15 * * * *' };

export function purgeIdempotencyKeys(idempotency: IdempotencyService, log: FastifyBaseLogger): Consumer {
  return {
    queue: PURGE_IDEMPOTENCY_KEYS,
    // Deleting what has expired is idempotent: a repeated run deletes nothing more.
    async handle() {
      try {
        const purged = await idempotency.purgeExpired();
        if (purged > 0) log.info({ purged }, 'purged expired idempotency keys');
      } catch (error) {
        log.warn({ err: error }, 'could not purge expired idempotency keys; will retry');
        throw error;
      }
    },
  };
}
