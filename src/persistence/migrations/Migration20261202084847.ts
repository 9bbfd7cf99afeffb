import { Migration } from '@mikro-orm/migrations';

// The notifications domain's part of the live stream (GET /v1/stream): each notification's
// writing transaction id, which with its seq is the (txid, seq) position the stream delivers a
// recipient's notifications by (src/persistence/stream-rows.ts).

export class Migration20261202084847 extends Migration {

  override name = 'Migration20261202084847';

  override up(): void | Promise<void> {
    this.addSql(`alter table "notifications"."notification" add "txid" xid8 not null default pg_current_xact_id();`);
    this.addSql(`create index "notification_recipient_id_txid_seq_index" on "notifications"."notification" ("recipient_id", "txid", "seq");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "notifications"."notification_recipient_id_txid_seq_index";`);
    this.addSql(`alter table "notifications"."notification" drop column "txid";`);
  }

}
