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
    this.addSql(`create function "accounts"."session_gone"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 's:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (select id from gone) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create function "accounts"."session_changed"() returns trigger language plpgsql as $$
      begin
        -- Using a session moves last_used_at forward: that changes nothing a cache holds.
        perform pg_notify('agora_invalidate', 's:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (select o.id from before_rows o join after_rows n on n.id = o.id
                 where n.expires_at < o.expires_at or n.last_used_at < o.last_used_at
                    or n.token_hash <> o.token_hash or n.account_id <> o.account_id) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create trigger "session_gone" after delete on "accounts"."session" referencing old table as gone for each statement execute function "accounts"."session_gone"();`);
    this.addSql(`create trigger "session_changed" after update on "accounts"."session" referencing old table as before_rows new table as after_rows for each statement execute function "accounts"."session_changed"();`);

    this.addSql(`create function "accounts"."account_gone"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'a:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (select id from gone) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create function "accounts"."account_changed"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'a:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (select o.id from before_rows o join after_rows n on n.id = o.id
                 where (n.handle, n.display_name) is distinct from (o.handle, o.display_name)) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create trigger "account_gone" after delete on "accounts"."account" referencing old table as gone for each statement execute function "accounts"."account_gone"();`);
    this.addSql(`create trigger "account_changed" after update on "accounts"."account" referencing old table as before_rows new table as after_rows for each statement execute function "accounts"."account_changed"();`);
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
