import { Migration } from '@mikro-orm/migrations';

// The queues of the domains that clean up after deletions elsewhere (`DomainEvents.cleanUp`,
// src/services/events.ts): a deletion enqueues, with itself, a job per consuming domain of its
// event (account.closed, channels.deleted), which does the clean-up again, or for the first time
// when the process that deleted died before doing it, or could not reach the consuming domain.
// `events.notifications` and `events.timelines` already exist (Migration20261202090000,
// Migration20261202110000); these have the same policy: retried with backoff, then dead-lettered.
const QUEUE = { policy: 'standard', notify: true, retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300, deadLetter: 'dead-letters', deleteAfterSeconds: 86_400 };

const QUEUES = ['events.channels', 'events.messages', 'events.posts', 'events.social'];

export class Migration20261204090000 extends Migration {

  override name = 'Migration20261204090000';

  override up(): void | Promise<void> {
    for (const name of QUEUES) this.addSql(`select pgboss.create_queue('${name}', '${JSON.stringify(QUEUE)}'::jsonb);`);
  }

  override down(): void | Promise<void> {
    for (const name of QUEUES) this.addSql(`select pgboss.delete_queue('${name}');`);
  }

}
