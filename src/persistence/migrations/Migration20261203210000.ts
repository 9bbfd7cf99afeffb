import { Migration } from '@mikro-orm/migrations';

// The notifications that name a message, found by it: deleting a message renames or removes the
// notices that name it (src/services/notifications, onMessageDeleted).

export class Migration20261203210000 extends Migration {

  override name = 'Migration20261203210000';

  override up(): void | Promise<void> {
    this.addSql(`create index "notification_message_id_index" on "notifications"."notification" ("message_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "notifications"."notification_message_id_index";`);
  }

}
