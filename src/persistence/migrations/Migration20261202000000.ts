import { Migration } from '@mikro-orm/migrations';
import { getConstructionPlans } from 'pg-boss';

// The job queue (src/jobs/): pg-boss's schema and Agora's queues, created here rather than by
// pg-boss at start, so that instances starting together never race to install it (they start
// pg-boss with `migrate: false`, which refuses a schema of another version).
//
// The DDL is pg-boss's own, for the version pinned exactly in package.json: pg-boss stores it as
// schema version 46 of the `pgboss` schema. Upgrading pg-boss to a release with a newer schema
// version takes a new migration running `getMigrationPlans('pgboss', <old version>)`.
// `getConstructionPlans` wraps its statements in BEGIN … COMMIT; they run in this migration's
// transaction instead (its advisory lock and SET LOCALs hold there just as well).
const installation = getConstructionPlans('pgboss')
  .replace(/^\s*BEGIN;/, '')
  .replace(/COMMIT;\s*$/, '');

/**
 * The queues as they were at this migration (a later change of policy is a later migration).
 * Failed attempts are retried with exponential backoff (retryDelay × 2^attempt, with jitter, at
 * most retryDelayMax seconds); a job that fails its last retry is copied to `dead-letters`, where
 * nothing consumes it: it waits there for an operator (and `agora_job_queue_depth` shows it).
 * A job not finished within expireInSeconds (its worker died or hung) counts as a failed attempt.
 */
const queues: [string, Record<string, unknown>][] = [
  ['dead-letters', { policy: 'standard', retentionSeconds: 30 * 86_400, deleteAfterSeconds: 30 * 86_400 }],
  ['purge-sessions', { policy: 'standard', retryLimit: 5, retryDelay: 10, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300, deadLetter: 'dead-letters', deleteAfterSeconds: 86_400 }],
  ['purge-idempotency-keys', { policy: 'standard', retryLimit: 5, retryDelay: 10, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300, deadLetter: 'dead-letters', deleteAfterSeconds: 86_400 }],
];

export class Migration20261202000000 extends Migration {

  override name = 'Migration20261202000000';

  override up(): void | Promise<void> {
    this.addSql(installation);
    for (const [name, options] of queues) {
      this.addSql(`select pgboss.create_queue('${name}', '${JSON.stringify(options)}'::jsonb);`);
    }
  }

  override down(): void | Promise<void> {
    this.addSql('drop schema if exists pgboss cascade;');
  }

}
