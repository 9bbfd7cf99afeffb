import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for channels, as Migration20261124000000 does for sessions and accounts:
// whenever a channel changes (its visibility, name, owner… any update) or goes (deleted, by
// hand or with its owner's account), PostgreSQL notifies `agora_invalidate` with
// "c:<channel ids>", comma-separated, at most 200 ids per notification, from statement-level
// triggers.
export class Migration20261124020000 extends Migration {

  override name = 'Migration20261124020000';

  override up(): void | Promise<void> {
    this.#notifyingTrigger('channel_gone', 'delete', 'select id from gone');
    this.#notifyingTrigger('channel_changed', 'update', 'select id from after_rows');
  }

  /** A statement-level trigger on channels.channel and its function (named like the trigger). */
  #notifyingTrigger(name: string, event: 'delete' | 'update', idsQuery: string): void {
    this.addSql(`create function "channels"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'c:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;
        return null;
      end $$;`);
    const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
    this.addSql(`create trigger "${name}" after ${event} on "channels"."channel" referencing ${transition} for each statement execute function "channels"."${name}"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "channel_changed" on "channels"."channel";`);
    this.addSql(`drop trigger if exists "channel_gone" on "channels"."channel";`);
    this.addSql(`drop function if exists "channels"."channel_changed"();`);
    this.addSql(`drop function if exists "channels"."channel_gone"();`);
  }

}
