import { Migration } from '@mikro-orm/migrations';

// Cache invalidation: whenever a session stops being usable (deleted, by sign-out, expiry,
// cascade from its account or by hand; or made to expire sooner) and whenever an account's
// summary changes or the account goes, PostgreSQL sends a notification on the channel
// `agora_invalidate` to every listening instance: "s:<session ids>" or "a:<account ids>",
// comma-separated, at most 200 ids per notification (payloads are limited to 8000 bytes).
// Statement-level triggers: a statement that deletes ten thousand sessions sends 50
// notifications, not ten thousand.
export class Migration20261124000000 extends Migration {

  override name = 'Migration20261124000000';

  override up(): void | Promise<void> {
    // Using a session moves last_used_at forward: that changes nothing a cache holds.
    const sessionChanged = `select o.id from before_rows o join after_rows n on n.id = o.id
       where n.expires_at < o.expires_at or n.last_used_at < o.last_used_at
          or n.token_hash <> o.token_hash or n.account_id <> o.account_id`;
    const accountChanged = `select o.id from before_rows o join after_rows n on n.id = o.id
       where (n.handle, n.display_name) is distinct from (o.handle, o.display_name)`;
    this.#notifyingTrigger('session', 'session_gone', 'delete', 's', 'select id from gone');
    this.#notifyingTrigger('session', 'session_changed', 'update', 's', sessionChanged);
    this.#notifyingTrigger('account', 'account_gone', 'delete', 'a', 'select id from gone');
    this.#notifyingTrigger('account', 'account_changed', 'update', 'a', accountChanged);
  }

  /**
   * A statement-level trigger on accounts.<table> and its function (named like the trigger),
   * which announces the ids `idsQuery` selects from the transition tables, 200 per notification.
   */
  #notifyingTrigger(table: string, name: string, event: 'delete' | 'update', topic: 's' | 'a', idsQuery: string): void {
    this.addSql(`create function "accounts"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', '${topic}:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;
        return null;
      end $$;`);
    const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
    this.addSql(`create trigger "${name}" after ${event} on "accounts"."${table}" referencing ${transition} for each statement execute function "accounts"."${name}"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "account_changed" on "accounts"."account";`);
    this.addSql(`drop trigger if exists "account_gone" on "accounts"."account";`);
    this.addSql(`drop trigger if exists "session_changed" on "accounts"."session";`);
    this.addSql(`drop trigger if exists "session_gone" on "accounts"."session";`);
    this.addSql(`drop function if exists "accounts"."account_changed"();`);
    this.addSql(`drop function if exists "accounts"."account_gone"();`);
    this.addSql(`drop function if exists "accounts"."session_changed"();`);
    this.addSql(`drop function if exists "accounts"."session_gone"();`);
  }

}
