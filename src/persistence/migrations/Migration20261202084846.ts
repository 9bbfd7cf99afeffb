import { Migration } from '@mikro-orm/migrations';

// The messages domain's part of the live stream (GET /v1/stream): each message's writing
// transaction id and a sequence, the (txid, seq) position the stream delivers a conversation's
// messages by (src/persistence/stream-rows.ts). Existing messages take this migration's
// transaction id and their seq in no particular order: they are all before any stream's position.

export class Migration20261202084846 extends Migration {

  override name = 'Migration20261202084846';

  override up(): void | Promise<void> {
    this.addSql(`alter table "messages"."message" add "txid" xid8 not null default pg_current_xact_id(), add "seq" bigserial;`);
    this.addSql(`create index "message_conversation_id_txid_seq_index" on "messages"."message" ("conversation_id", "txid", "seq");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "messages"."message_conversation_id_txid_seq_index";`);
    this.addSql(`alter table "messages"."message" drop column "txid", drop column "seq";`);
  }

}
