// Deletes sessions that can no longer be used, so the table does not grow forever: a job of the
// `purge-sessions` queue, scheduled every 15 minutes (one run per period, whatever the number of
// workers). A purge that fails is retried with backoff (the queue's policy).
import type { FastifyBaseLogger } from 'fastify';
import type { SessionsService } from '../services/accounts/index.ts';
import type { Consumer, Schedule } from './queue.ts';

export const PURGE_SESSIONS = 'purge-sessions';

export const purgeSessionsSchedule: Schedule = { queue: PURGE_SESSIONS, cron: '*/15 * * * *' };

export function purgeSessions(sessions: SessionsService, log: FastifyBaseLogger): Consumer {
  return {
    queue: PURGE_SESSIONS,
    // Deleting what has expired is idempotent: a repeated run deletes nothing more.
    async handle() {
      try {
        const purged = await sessions.purgeExpired();
        if (purged > 0) log.info({ purged }, 'purged expired sessions');
      } catch (error) {
        log.warn({ err: error }, 'could not purge expired sessions; will retry');
        throw error;
      }
    },
  };
}
