// Periodically deletes sessions that can no longer be used, so the table does not grow forever.
import type { FastifyBaseLogger } from 'fastify';
import type { SessionsService } from '../services/accounts/index.ts';

export function startSessionPurge(sessions: SessionsService, log: FastifyBaseLogger, everyMs = 15 * 60_000) {
  const run = async () => {
    try {
      const purged = await sessions.purgeExpired();
      if (purged > 0) log.info({ purged }, 'purged expired sessions');
    } catch (error) {
      log.warn({ err: error }, 'could not purge expired sessions; will retry');
    }
  };
  // The run in flight, which `stop` waits for: the pool must not close under its query.
  let running: Promise<void> = Promise.resolve();
  const tick = () => void (running = run());
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
