import { Migration } from '@mikro-orm/migrations';

// A new general post no longer notifies from its own transaction. Migration20261202220000's
// trigger timelines_post_added announced "n:<author>" at the insert's commit, so every general
// post's transaction sent a NOTIFY, and PostgreSQL serializes the commits of notifying
// transactions: each takes one lock for the whole database's notification queue before its
// commit and holds it until its commit record is on disk (async.c, PreCommit_Notify). Posts
// created at once then committed one fsync after another: under a bench's load of 50 writers,
// most of Agora's statements waited on that lock (pg_stat_activity: Lock, object). The fan-out
// pass, which handles every new general post once, announces "n:" for the authors it handled
// instead, in its own transaction (TimelinesStore.pass): one notification a pass, not one a post.
// The instance that wrote the post evicts its own pages at once, as before.
export class Migration20261205230000 extends Migration {

  override name = 'Migration20261205230000';

  override up(): void | Promise<void> {
    this.addSql(`drop trigger if exists "timelines_post_added" on "posts"."post";`);
    this.addSql(`drop function if exists "timelines"."timelines_post_added"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create function "timelines"."timelines_post_added"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'n:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (select distinct author_id as id from added where channel_id is null) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create trigger "timelines_post_added" after insert on "posts"."post" referencing new table as added for each statement execute function "timelines"."timelines_post_added"();`);
  }

}
