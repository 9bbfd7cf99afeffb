import { Migration } from '@mikro-orm/migrations';

// The notifications domain (issue 13): its notification table, with a position (`seq`) assigned
// by PostgreSQL and one row per recipient and cause, and each account's read marker.

export class Migration20261202073755 extends Migration {

  override name = 'Migration20261202073755';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "notifications";`);
    this.addSql(`create table "notifications"."notification" ("id" uuid not null, "seq" bigserial, "recipient_id" uuid not null, "type" varchar(32) not null, "actor_id" uuid not null, "post_id" uuid null, "channel_id" uuid null, "conversation_id" uuid null, "message_id" uuid null, "friend_request_id" uuid null, "group_key" varchar(100) not null, "source_key" varchar(100) not null, "created_at" timestamptz(3) not null, primary key ("id"));`);
    this.addSql(`create index "notification_recipient_id_seq_index" on "notifications"."notification" ("recipient_id", "seq");`);
    this.addSql(`create index "notification_actor_id_index" on "notifications"."notification" ("actor_id");`);
    this.addSql(`create index "notification_channel_id_index" on "notifications"."notification" ("channel_id");`);
    this.addSql(`alter table "notifications"."notification" add constraint "notification_recipient_id_source_key_key" unique ("recipient_id", "source_key");`);

    this.addSql(`create table "notifications"."marker" ("account_id" uuid not null, "last_read_seq" bigint not null, "last_read_id" uuid not null, "version" int not null, "updated_at" timestamptz(3) not null, primary key ("account_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "notifications"."notification" cascade;`);
    this.addSql(`drop table if exists "notifications"."marker" cascade;`);

    this.addSql(`drop schema if exists "notifications";`);
  }

}
