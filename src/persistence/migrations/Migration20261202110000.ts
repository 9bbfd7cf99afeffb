import { Migration } from '@mikro-orm/migrations';

// The timelines domain: home timelines materialized on write. `entry` is each reader's
// timeline in feed order; `owner` the readers whose timeline is kept, with its horizon;
// `wide` the authors read on demand (too many friends to fan out to); `handled` the posts and
// friendships the fan-out has already handled within its grace window; `fanout` its heartbeat.

export class Migration20261202110000 extends Migration {

  override name = 'Migration20261202110000';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "timelines";`);
    this.addSql(`create table "timelines"."entry" ("owner_id" uuid not null, "created_at" timestamptz(3) not null, "post_id" uuid not null, "author_id" uuid not null, primary key ("owner_id", "created_at", "post_id"));`);
    this.addSql(`create table "timelines"."owner" ("owner_id" uuid not null, "horizon_at" timestamptz(3) null, "horizon_id" uuid null, primary key ("owner_id"));`);
    this.addSql(`create table "timelines"."wide" ("account_id" uuid not null, primary key ("account_id"));`);
    this.addSql(`create table "timelines"."handled" ("created_at" timestamptz(3) not null, "id" uuid not null, primary key ("created_at", "id"));`);
    this.addSql(`create table "timelines"."fanout" ("id" int not null, "caught_up_at" timestamptz(3) not null, primary key ("id"));`);
    this.addSql(`insert into "timelines"."fanout" ("id", "caught_up_at") values (1, '-infinity');`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop schema "timelines" cascade;`);
  }

}
