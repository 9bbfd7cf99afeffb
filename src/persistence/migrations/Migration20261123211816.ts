import { Migration } from '@mikro-orm/migrations';

export class Migration20261123211816 extends Migration {

  override name = 'Migration20261123211816';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "channels";`);
    this.addSql(`create table "channels"."channel" ("id" uuid not null, "owner_id" uuid not null, "name" varchar(80) not null, "description" varchar(1000) not null, "visibility" text not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "version" int not null, primary key ("id"));`);
    this.addSql(`create index "channel_visibility_id_index" on "channels"."channel" ("visibility", "id");`);
    this.addSql(`create index "channel_owner_id_index" on "channels"."channel" ("owner_id");`);

    this.addSql(`create table "channels"."membership" ("id" uuid not null, "channel_id" uuid not null, "account_id" uuid not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "membership_channel_id_id_index" on "channels"."membership" ("channel_id", "id");`);
    this.addSql(`create index "membership_account_id_index" on "channels"."membership" ("account_id");`);
    this.addSql(`alter table "channels"."membership" add constraint "membership_channel_account_key" unique ("channel_id", "account_id");`);

    this.addSql(`alter table "channels"."channel" add constraint "channel_visibility_check" check ("visibility" in ('public', 'private'));`);

    this.addSql(`alter table "channels"."membership" add constraint "membership_channel_id_foreign" foreign key ("channel_id") references "channels"."channel" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "channels"."membership" drop constraint "membership_channel_id_foreign";`);

    this.addSql(`drop table if exists "channels"."channel" cascade;`);
    this.addSql(`drop table if exists "channels"."membership" cascade;`);

    this.addSql(`drop schema if exists "channels";`);
  }

}
