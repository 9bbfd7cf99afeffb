import { Migration } from '@mikro-orm/migrations';

// The queues of the durable domain events (src/services/events.ts): one per consuming domain,
// `events.<domain>`, whose jobs carry `{ event, payload }`. Like the purge queues
// (Migration20261202000000): failed attempts are retried with exponential backoff, a job that
// fails its last retry goes to `dead-letters`, and a job not finished within expireInSeconds
// (its worker died) counts as a failed attempt. Retries are short at first (1 s, 2 s, 4 s…):
// a notification late by minutes is a notification missed. `notify: true` makes the insert of a
// job send a NOTIFY at commit, which wakes listening workers at once (pg-boss's
// `useListenNotify`); polling remains the fallback where LISTEN cannot be held (PgBouncer in
// transaction pooling mode). Jobs done are kept a day, then deleted.
const queues: [string, Record<string, unknown>][] = [
  [
    'events.notifications',
    { policy: 'standard', notify: true, retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300, deadLetter: 'dead-letters', deleteAfterSeconds: 86_400 },
  ],
];

export class Migration20261202090000 extends Migration {

  override name = 'Migration20261202090000';

  override up(): void | Promise<void> {
    for (const [name, options] of queues) {
      this.addSql(`select pgboss.create_queue('${name}', '${JSON.stringify(options)}'::jsonb);`);
    }
  }

  override down(): void | Promise<void> {
    for (const [name] of queues) this.addSql(`select pgboss.delete_queue('${name}');`);
  }

}
