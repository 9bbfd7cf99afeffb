import { Migration } from '@mikro-orm/migrations';

// The notifications about a post, found by it: deleting a post removes its notifications
// (mentions, a channel's new-post notices), and without this index each deletion read the whole
// table.

export class Migration20261203200000 extends Migration {

  override name = 'Migration20261203200000';

  override up(): void | Promise<void> {
    this.addSql(`create index "notification_post_id_index" on "notifications"."notification" ("post_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "notifications"."notification_post_id_index";`);
  }

}
