import { Migration } from '@mikro-orm/migrations';

export class Migration20261123211505 extends Migration {

  override name = 'Migration20261123211505';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "social";`);
    this.addSql(`create table "social"."friend_request" ("id" uuid not null, "sender_id" uuid not null, "recipient_id" uuid not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "friend_request_recipient_id_id_index" on "social"."friend_request" ("recipient_id", "id");`);
    this.addSql(`create index "friend_request_sender_id_id_index" on "social"."friend_request" ("sender_id", "id");`);
    this.addSql(`alter table "social"."friend_request" add constraint "friend_request_sender_recipient_key" unique ("sender_id", "recipient_id");`);

    this.addSql(`create table "social"."friendship" ("id" uuid not null, "account_id" uuid not null, "friend_id" uuid not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "friendship_account_id_id_index" on "social"."friendship" ("account_id", "id");`);
    this.addSql(`create index "friendship_friend_id_index" on "social"."friendship" ("friend_id");`);
    this.addSql(`alter table "social"."friendship" add constraint "friendship_account_friend_key" unique ("account_id", "friend_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "social"."friend_request" cascade;`);
    this.addSql(`drop table if exists "social"."friendship" cascade;`);

    this.addSql(`drop schema if exists "social";`);
  }

}
