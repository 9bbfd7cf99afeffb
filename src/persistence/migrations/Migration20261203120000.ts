import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for the posts and channel pages an instance keeps in memory (the posts
// domain, see src/services/posts/posts-service.ts), as Migration20261124020000 does for
// channels. PostgreSQL notifies `agora_invalidate` from statement-level triggers, at commit,
// comma-separated, at most 200 ids per notification:
// - "o:<post ids>": posts, general or in a channel, were edited (any update) or deleted (by
//   their author, their channel's owner, with their author's account or their channel, or by
//   hand);
// - "oc:<channel ids>": channels whose list of posts has new rows: posts published in them, or
//   (by hand) moved into them or given another time;
// - "o!:": the table was truncated, which empties both caches.
export class Migration20261203120000 extends Migration {

  override name = 'Migration20261203120000';

  override up(): void | Promise<void> {
    this.#function('post_added', [['oc', 'select distinct channel_id as id from added where channel_id is not null']]);
    this.#function('post_changed', [
      ['o', 'select id from before_rows'],
      [
        'oc',
        `select distinct channel_id as id from (
           select a.channel_id from after_rows a join before_rows b using (id)
            where a.channel_id is distinct from b.channel_id or a.created_at is distinct from b.created_at
           union all
           select b.channel_id from after_rows a join before_rows b using (id)
            where a.channel_id is distinct from b.channel_id) moved
          where channel_id is not null`,
      ],
    ]);
    this.#function('post_gone', [['o', 'select id from gone']]);
    this.#trigger('post_added', 'insert');
    this.#trigger('post_changed', 'update');
    this.#trigger('post_gone', 'delete');
    this.addSql(`create function "posts"."posts_truncated"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'o!:');
        return null;
      end $$;`);
    this.addSql(`create trigger "posts_truncated" after truncate on "posts"."post" for each statement execute function "posts"."posts_truncated"();`);
  }

  /** A trigger function posts.<name> announcing, on each topic, the ids its query selects from the transition tables. */
  #function(name: string, announcements: [topic: string, idsQuery: string][]): void {
    const statements = announcements.map(
      ([topic, idsQuery]) => `perform pg_notify('agora_invalidate', '${topic}:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;`,
    );
    this.addSql(`create function "posts"."${name}"() returns trigger language plpgsql as $$
      begin
        ${statements.join('\n        ')}
        return null;
      end $$;`);
  }

  /** A statement-level trigger on posts.post running the function of its name. */
  #trigger(name: string, event: 'insert' | 'update' | 'delete'): void {
    const transition = { insert: 'new table as added', update: 'old table as before_rows new table as after_rows', delete: 'old table as gone' }[event];
    this.addSql(`create trigger "${name}" after ${event} on "posts"."post" referencing ${transition} for each statement execute function "posts"."${name}"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "posts_truncated" on "posts"."post";`);
    for (const name of ['post_added', 'post_changed', 'post_gone']) {
      this.addSql(`drop trigger if exists "${name}" on "posts"."post";`);
      this.addSql(`drop function if exists "posts"."${name}"();`);
    }
    this.addSql(`drop function if exists "posts"."posts_truncated"();`);
  }

}
