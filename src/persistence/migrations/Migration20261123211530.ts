import { Migration } from '@mikro-orm/migrations';

export class Migration20261123211530 extends Migration {

  override name = 'Migration20261123211530';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "idempotency";`);
    this.addSql(`create table "idempotency"."record" ("scope" varchar(64) not null, "operation" varchar(100) not null, "key" varchar(255) not null, "fingerprint" varchar(64) not null, "response_status" int not null, "response_headers" jsonb not null, "response_body" text null, "created_at" timestamptz not null, "expires_at" timestamptz not null, primary key ("scope", "operation", "key"));`);
    this.addSql(`create index "record_expires_at_index" on "idempotency"."record" ("expires_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "idempotency"."record" cascade;`);

    this.addSql(`drop schema if exists "idempotency";`);
  }

}
