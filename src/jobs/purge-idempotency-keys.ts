// Periodically forgets idempotency keys whose retention (IDEMPOTENCY_TTL_SECONDS) has passed.
// Expired keys are already ignored when a request arrives; this keeps the table small.
import type { FastifyBaseLogger } from 'fastify';
import type { IdempotencyService } from '../services/idempotency/index.ts';

export function startIdempotencyPurge(idempotency: IdempotencyService, log: FastifyBaseLogger, everyMs = 15 * 60_000) {
  const run = async () => {
    try {
      const purged = await idempotency.purgeExpired();
      if (purged > 0) log.info({ purged }, 'purged expired idempotency keys');
    } catch (error) {
      log.warn({ err: error }, 'could not purge expired idempotency keys; will retry');
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
