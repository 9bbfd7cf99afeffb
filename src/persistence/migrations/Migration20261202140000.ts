import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for idempotency records (the replays an instance keeps in memory, see
// src/services/idempotency/idempotency-service.ts), as Migration20261124000000 does for sessions
// and accounts: whenever a record is changed or goes (purged once expired, replaced by a new
// request after it expired, or by hand), PostgreSQL notifies `agora_invalidate` with
// "i:<ids>", comma-separated, at most 200 per notification, from statement-level triggers. A
// record's id is the MD5 (hex) of its scope, operation and key joined by newlines, which no
// part can contain (keys are visible ASCII), since keys may hold commas.
export class Migration20261202140000 extends Migration {

  override name = 'Migration20261202140000';

  override up(): void | Promise<void> {
    this.#notifyingTrigger('record_gone', 'delete', 'select scope, operation, key from gone');
    this.#notifyingTrigger('record_changed', 'update', 'select scope, operation, key from before_rows');
  }

  /** A statement-level trigger on idempotency.record and its function (named like the trigger). */
  #notifyingTrigger(name: string, event: 'delete' | 'update', rowsQuery: string): void {
    this.addSql(`create function "idempotency"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'i:' || string_agg(id, ','))
          from (select md5(scope || chr(10) || operation || chr(10) || key) as id, (row_number() over () - 1) / 200 as chunk
                  from (${rowsQuery}) r) c
         group by chunk;
        return null;
      end $$;`);
    const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
    this.addSql(`create trigger "${name}" after ${event} on "idempotency"."record" referencing ${transition} for each statement execute function "idempotency"."${name}"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "record_changed" on "idempotency"."record";`);
    this.addSql(`drop trigger if exists "record_gone" on "idempotency"."record";`);
    this.addSql(`drop function if exists "idempotency"."record_changed"();`);
    this.addSql(`drop function if exists "idempotency"."record_gone"();`);
  }

}
