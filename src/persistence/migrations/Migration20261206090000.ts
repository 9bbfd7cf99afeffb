import { Migration } from '@mikro-orm/migrations';

// The durable domain events' queues no longer notify from the enqueuing transaction. pg-boss's
// insert of a job of a queue with `notify` sent a NOTIFY inside the transaction that enqueued it,
// and PostgreSQL commits notifying transactions one at a time (each holds the notification
// queue's lock until its commit record is on disk): every message sent, whose transaction
// enqueues its notification job, waited for every other to commit. The queue (src/jobs/queue.ts)
// now wakes the workers itself, once the enqueuing transaction has committed, gathered with the
// instance's other wake-ups (src/persistence/notices.ts). An idle worker of a queue without
// `notify` polls every JOBS_POLL_INTERVAL_MS rather than every 30 s: what picks up a job whose
// wake-up was lost. During a rolling deploy an instance still running the code before this one
// enqueues without waking anybody: its jobs wait for that poll.
const QUEUES = ['events.notifications', 'events.timelines', 'events.channels', 'events.messages', 'events.posts', 'events.social'];

export class Migration20261206090000 extends Migration {

  override name = 'Migration20261206090000';

  override up(): void | Promise<void> {
    this.addSql(`update pgboss.queue set notify = false, updated_on = now() where name in (${QUEUES.map((q) => `'${q}'`).join(', ')});`);
  }

  override down(): void | Promise<void> {
    this.addSql(`update pgboss.queue set notify = true, updated_on = now() where name in (${QUEUES.map((q) => `'${q}'`).join(', ')});`);
  }

}
