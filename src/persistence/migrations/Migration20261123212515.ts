import { Migration } from '@mikro-orm/migrations';

export class Migration20261123212515 extends Migration {

  override name = 'Migration20261123212515';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "posts";`);
    this.addSql(`create table "posts"."post" ("id" uuid not null, "author_id" uuid not null, "channel_id" uuid null, "text" varchar(5000) not null, "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, "version" int not null, primary key ("id"));`);
    this.addSql(`create index "post_author_id_channel_id_created_at_id_index" on "posts"."post" ("author_id", "channel_id", "created_at", "id");`);
    this.addSql(`create index "post_channel_id_created_at_id_index" on "posts"."post" ("channel_id", "created_at", "id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "posts"."post" cascade;`);

    this.addSql(`drop schema if exists "posts";`);
  }

}
