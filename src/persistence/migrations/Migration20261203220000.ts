import { Migration } from '@mikro-orm/migrations';

// What a deletion forgot, so that a job that runs after it does not bring it back: a post's or a
// message's event is a durable job, which may run after the post or the message was deleted (an
// unsent message, a post deleted at once). The notifications domain cannot see those tables; it
// keeps the source keys it forgot (`post:<id>`, `message:<id>`) for a week, and inserts no
// notification with one of them.

export class Migration20261203220000 extends Migration {

  override name = 'Migration20261203220000';

  override up(): void | Promise<void> {
    this.addSql(`create table "notifications"."forgotten" ("source_key" varchar(100) not null, "forgotten_at" timestamptz(3) not null, primary key ("source_key"));`);
    this.addSql(`create index "forgotten_forgotten_at_index" on "notifications"."forgotten" ("forgotten_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table "notifications"."forgotten";`);
  }

}
