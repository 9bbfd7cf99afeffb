import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for the posts an instance keeps in memory (the posts domain, see
// src/services/posts/posts-service.ts), as Migration20261124020000 does for channels: whenever a
// post, general or in a channel, is edited (any update) or deleted (by its author, its channel's
// owner, with its author's account or its channel, or by hand), PostgreSQL notifies
// `agora_invalidate` with "o:<post ids>", comma-separated, at most 200 ids per notification,
// from statement-level triggers; a TRUNCATE of the table notifies "o!:", which empties the
// cache. New posts need none: nothing can have kept a post before it existed.
export class Migration20261203120000 extends Migration {

  override name = 'Migration20261203120000';

  override up(): void | Promise<void> {
    this.#notifyingTrigger('post_changed', 'update', 'select id from before_rows');
    this.#notifyingTrigger('post_gone', 'delete', 'select id from gone');
    this.addSql(`create function "posts"."posts_truncated"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'o!:');
        return null;
      end $$;`);
    this.addSql(`create trigger "posts_truncated" after truncate on "posts"."post" for each statement execute function "posts"."posts_truncated"();`);
  }

  /** A statement-level trigger on posts.post and its function (named like the trigger). */
  #notifyingTrigger(name: string, event: 'delete' | 'update', idsQuery: string): void {
    this.addSql(`create function "posts"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'o:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;
        return null;
      end $$;`);
    const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
    this.addSql(`create trigger "${name}" after ${event} on "posts"."post" referencing ${transition} for each statement execute function "posts"."${name}"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "posts_truncated" on "posts"."post";`);
    this.addSql(`drop trigger if exists "post_changed" on "posts"."post";`);
    this.addSql(`drop trigger if exists "post_gone" on "posts"."post";`);
    this.addSql(`drop function if exists "posts"."posts_truncated"();`);
    this.addSql(`drop function if exists "posts"."post_changed"();`);
    this.addSql(`drop function if exists "posts"."post_gone"();`);
  }

}
