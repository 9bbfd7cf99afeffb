import { Migration } from '@mikro-orm/migrations';

// Cache invalidation for the conversations' participants an instance keeps in memory (the
// messages domain, see src/services/messages/messages-service.ts), as Migration20261124020000
// does for channels: statement-level triggers on messages.participant notify `agora_invalidate`,
// at commit, with "mp:<conversation ids>", comma-separated, at most 200 per notification: a
// conversation's participants were added, removed (with the conversation, or by hand), closed
// (with their account) or otherwise changed, but not when only a read marker moved, which no
// kept list holds.
export class Migration20261205110100 extends Migration {

  override name = 'Migration20261205110100';

  override up(): void | Promise<void> {
    this.#trigger('participant_added', 'insert', 'select distinct conversation_id as id from added');
    this.#trigger(
      'participant_changed',
      'update',
      `select distinct a.conversation_id as id from after_rows a
         left join before_rows b on b.conversation_id = a.conversation_id and b.account_id = a.account_id
        where b.account_id is null or a.closed_at is distinct from b.closed_at or a.position is distinct from b.position
       union
       select b.conversation_id from before_rows b
         left join after_rows a on a.conversation_id = b.conversation_id and a.account_id = b.account_id
        where a.account_id is null`,
    );
    this.#trigger('participant_gone', 'delete', 'select distinct conversation_id as id from gone');
  }

  /** A statement-level trigger on messages.participant and its function (named like the trigger), announcing the conversations `idsQuery` selects. */
  #trigger(name: string, event: 'insert' | 'update' | 'delete', idsQuery: string): void {
    this.addSql(`create function "messages"."${name}"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('agora_invalidate', 'mp:' || string_agg(id::text, ','))
          from (select id, (row_number() over () - 1) / 200 as chunk from (${idsQuery}) ids) c
         group by chunk;
        return null;
      end $$;`);
    const transition = { insert: 'new table as added', update: 'old table as before_rows new table as after_rows', delete: 'old table as gone' }[event];
    this.addSql(`create trigger "${name}" after ${event} on "messages"."participant" referencing ${transition} for each statement execute function "messages"."${name}"();`);
  }

  override down(): void | Promise<void> {
    for (const name of ['participant_added', 'participant_changed', 'participant_gone']) {
      this.addSql(`drop trigger if exists "${name}" on "messages"."participant";`);
      this.addSql(`drop function if exists "messages"."${name}"();`);
    }
  }

}
