import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for the feed pages an instance keeps in memory (the timelines domain, see
// src/services/timelines/timelines-service.ts), as Migration20261124000000 does for sessions and
// accounts: statement-level triggers notify `agora_invalidate`, at commit, at most 200 ids per
// notification, with
// - "f:<owner ids>": a timeline's entries or horizon changed (timelines.entry, timelines.owner), or
//   an account's friendships did (social.friendship, the `account_id` side);
// - "n:<author ids>": general posts were published (posts.post), which the feeds of their authors
//   and of their wide friends' friends read on demand (since Migration20261205230000 the fan-out
//   pass announces them, not the post's own transaction: this migration's trigger is dropped);
// - "p:<post ids>": general posts were changed or deleted (posts.post);
// - "h:": the set of wide authors changed (timelines.wide), or one of these tables was
//   truncated: too wide to say which pages it touches, so every instance empties the cache;
// - "k:<ms since the epoch>": the fan-out's heartbeat moved (timelines.fanout, at most once a
//   second while passes catch up): kept pages are served only while it is recent.
// The functions live in the timelines schema, whose domain listens; the triggers on posts.post
// and social.friendship are declared by those tables' entities too, so that the schema check
// knows them, all but the truncate triggers, which the check cannot see (PostgreSQL's
// information_schema.triggers does not list them).
export class Migration20261202220000 extends Migration {

  override name = 'Migration20261202220000';

  override up(): void | Promise<void> {
    this.#trigger('timelines', 'entry', 'entry_added', 'insert', 'f', 'select distinct owner_id as id from added');
    this.#trigger('timelines', 'entry', 'entry_gone', 'delete', 'f', 'select distinct owner_id as id from gone');
    this.#trigger('timelines', 'owner', 'owner_added', 'insert', 'f', 'select owner_id as id from added');
    this.#trigger('timelines', 'owner', 'owner_changed', 'update', 'f', 'select owner_id as id from after_rows');
    this.#trigger('timelines', 'owner', 'owner_gone', 'delete', 'f', 'select owner_id as id from gone');
    this.#trigger('social', 'friendship', 'timelines_friendship_added', 'insert', 'f', 'select distinct account_id as id from added');
    this.#trigger('social', 'friendship', 'timelines_friendship_gone', 'delete', 'f', 'select distinct account_id as id from gone');
    this.#trigger('posts', 'post', 'timelines_post_added', 'insert', 'n', 'select distinct author_id as id from added where channel_id is null');
    this.#trigger('posts', 'post', 'timelines_post_changed', 'update', 'p', 'select id from before_rows where channel_id is null');
    this.#trigger('posts', 'post', 'timelines_post_gone', 'delete', 'p', 'select id from gone where channel_id is null');
    this.#trigger('timelines', 'wide', 'wide_added', 'insert', 'h', 'select 1 as id from added limit 1');
    this.#trigger('timelines', 'wide', 'wide_gone', 'delete', 'h', 'select 1 as id from gone limit 1');
    // Clamped, since the row starts at '-infinity' (never caught up), which no bigint holds.
    const heartbeat = `select (extract(epoch from least(greatest(max(caught_up_at), 'epoch'), '9999-01-01')) * 1000)::bigint as id from after_rows having count(*) > 0`;
    this.#trigger('timelines', 'fanout', 'fanout_changed', 'update', 'k', heartbeat);
    this.addSql(`create function "timelines"."feeds_truncated"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'h:');
        return null;
      end $$;`);
    for (const [schema, table] of TRUNCATED) {
      this.addSql(`create trigger "timelines_${table}_truncated" after truncate on "${schema}"."${table}" for each statement execute function "timelines"."feeds_truncated"();`);
    }
  }

  /**
   * A statement-level trigger on <schema>.<table>, running the function timelines.<name> (made
   * here), which announces on `topic` the ids `idsQuery` selects from the transition table.
   */
  #trigger(schema: string, table: string, name: string, event: 'insert' | 'update' | 'delete', topic: string, idsQuery: string): void {
    const ids = topic === 'h' ? `''` : `string_agg(id::text, ',')`;
    this.addSql(`create function "timelines"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', '${topic}:' || ${ids})
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;
        return null;
      end $$;`);
    this.addSql(`create trigger "${name}" after ${event} on "${schema}"."${table}" referencing ${TRANSITION[event]} for each statement execute function "timelines"."${name}"();`);
  }

  override down(): void | Promise<void> {
    for (const [schema, table] of TRUNCATED) this.addSql(`drop trigger if exists "timelines_${table}_truncated" on "${schema}"."${table}";`);
    this.addSql(`drop function if exists "timelines"."feeds_truncated"();`);
    for (const [schema, table, name] of TRIGGERS) {
      this.addSql(`drop trigger if exists "${name}" on "${schema}"."${table}";`);
      this.addSql(`drop function if exists "timelines"."${name}"();`);
    }
  }

}

const TRANSITION = { insert: 'new table as added', update: 'old table as before_rows new table as after_rows', delete: 'old table as gone' };

const TRUNCATED = [['timelines', 'entry'], ['timelines', 'owner'], ['timelines', 'wide'], ['social', 'friendship'], ['posts', 'post']] as const;

const TRIGGERS = [
  ['timelines', 'entry', 'entry_added'], ['timelines', 'entry', 'entry_gone'],
  ['timelines', 'owner', 'owner_added'], ['timelines', 'owner', 'owner_changed'], ['timelines', 'owner', 'owner_gone'],
  ['social', 'friendship', 'timelines_friendship_added'], ['social', 'friendship', 'timelines_friendship_gone'],
  ['posts', 'post', 'timelines_post_added'], ['posts', 'post', 'timelines_post_changed'], ['posts', 'post', 'timelines_post_gone'],
  ['timelines', 'wide', 'wide_added'], ['timelines', 'wide', 'wide_gone'],
  ['timelines', 'fanout', 'fanout_changed'],
] as const;
