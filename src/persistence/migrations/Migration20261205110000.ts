import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for the friendships an instance keeps in memory (the social domain, see
// src/services/social/social-service.ts), as Migration20261124020000 does for channels:
// statement-level triggers on social.friendship notify `agora_invalidate`, at commit, with
// "fr:<pairs>", each pair the row's `account_id` and `friend_id` with a space between, comma-
// separated, at most 100 pairs per notification (7,402 bytes: a notification's payload must stay
// under 8,000): friendships made, ended (by either friend, or with a closed account's graph, or by
// hand) or changed by hand.
export class Migration20261205110000 extends Migration {

  override name = 'Migration20261205110000';

  override up(): void | Promise<void> {
    this.#trigger('friendship_added', 'insert', 'select account_id, friend_id from added');
    this.#trigger('friendship_changed', 'update', 'select account_id, friend_id from before_rows union select account_id, friend_id from after_rows');
    this.#trigger('friendship_gone', 'delete', 'select account_id, friend_id from gone');
  }

  /** A statement-level trigger on social.friendship and its function (named like the trigger), announcing the pairs `pairsQuery` selects. */
  #trigger(name: string, event: 'insert' | 'update' | 'delete', pairsQuery: string): void {
    this.addSql(`create function "social"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'fr:' || string_agg(pair, ','))
          from (select account_id::text || ' ' || friend_id::text as pair, (row_number() over () - 1) / 100 as chunk from (${pairsQuery}) pairs) c
         group by chunk;
        return null;
      end $$;`);
    const transition = { insert: 'new table as added', update: 'old table as before_rows new table as after_rows', delete: 'old table as gone' }[event];
    this.addSql(`create trigger "${name}" after ${event} on "social"."friendship" referencing ${transition} for each statement execute function "social"."${name}"();`);
  }

  override down(): void | Promise<void> {
    for (const name of ['friendship_added', 'friendship_changed', 'friendship_gone']) {
      this.addSql(`drop trigger if exists "${name}" on "social"."friendship";`);
      this.addSql(`drop function if exists "social"."${name}"();`);
    }
  }

}
