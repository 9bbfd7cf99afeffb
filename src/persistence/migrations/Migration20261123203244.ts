import { Migration } from '@mikro-orm/migrations';

export class Migration20261123203244 extends Migration {

  override name = 'Migration20261123203244';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "accounts";`);
    this.addSql(`create table "accounts"."account" ("id" uuid not null, "email" varchar(254) not null, "handle" varchar(30) not null, "handle_key" varchar(30) collate "C" not null, "display_name" varchar(80) not null, "bio" varchar(500) null, "password_hash" text not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "version" int not null, primary key ("id"));`);
    this.addSql(`alter table "accounts"."account" add constraint "account_email_key" unique ("email");`);
    this.addSql(`alter table "accounts"."account" add constraint "account_handle_key_key" unique ("handle_key");`);

    this.addSql(`create table "accounts"."session" ("id" uuid not null, "account_id" uuid not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null, "last_used_at" timestamptz not null, "expires_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "session_account_id_index" on "accounts"."session" ("account_id");`);
    this.addSql(`alter table "accounts"."session" add constraint "session_token_hash_key" unique ("token_hash");`);

    this.addSql(`alter table "accounts"."session" add constraint "session_account_id_foreign" foreign key ("account_id") references "accounts"."account" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "accounts"."session" drop constraint "session_account_id_foreign";`);

    this.addSql(`drop table if exists "accounts"."account" cascade;`);
    this.addSql(`drop table if exists "accounts"."session" cascade;`);

    this.addSql(`drop schema if exists "accounts";`);
  }

}
