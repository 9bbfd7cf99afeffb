import { Migration } from '@mikro-orm/migrations';

// The messages domain: conversations, their participants (with each one's read marker) and
// messages, in a schema of their own (issue 13, direct messages).

export class Migration20261202073214 extends Migration {

  override name = 'Migration20261202073214';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "messages";`);
    this.addSql(`create table "messages"."conversation" ("id" uuid not null, "participant_key" varchar(64) not null, "created_at" timestamptz(3) not null, "last_activity_at" timestamptz(3) not null, primary key ("id"));`);
    this.addSql(`alter table "messages"."conversation" add constraint "conversation_participant_key_key" unique ("participant_key");`);

    this.addSql(`create table "messages"."message" ("id" uuid not null, "conversation_id" uuid not null, "author_id" uuid not null, "text" varchar(5000) not null, "created_at" timestamptz(3) not null, primary key ("id"));`);
    this.addSql(`create index "message_conversation_id_id_index" on "messages"."message" ("conversation_id", "id");`);

    this.addSql(`create table "messages"."participant" ("conversation_id" uuid not null, "account_id" uuid not null, "position" smallint not null, "last_read_message_id" uuid null, "marker_version" int not null, "closed_at" timestamptz(3) null, primary key ("conversation_id", "account_id"));`);
    this.addSql(`create index "participant_account_id_index" on "messages"."participant" ("account_id");`);

    this.addSql(`alter table "messages"."message" add constraint "message_conversation_id_foreign" foreign key ("conversation_id") references "messages"."conversation" ("id") on delete cascade;`);

    this.addSql(`alter table "messages"."participant" add constraint "participant_conversation_id_foreign" foreign key ("conversation_id") references "messages"."conversation" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "messages"."message" drop constraint "message_conversation_id_foreign";`);
    this.addSql(`alter table "messages"."participant" drop constraint "participant_conversation_id_foreign";`);

    this.addSql(`drop table if exists "messages"."conversation" cascade;`);
    this.addSql(`drop table if exists "messages"."message" cascade;`);
    this.addSql(`drop table if exists "messages"."participant" cascade;`);

    this.addSql(`drop schema if exists "messages";`);
  }

}
