import { Migration } from '@mikro-orm/migrations';

// The timelines domain: home timelines materialized on write. `entry` is each reader's
// timeline in feed order; `owner` the readers whose timeline is kept, with its horizon;
// `wide` the authors read on demand (too many friends to fan out to); `handled` the
// posts the fan-out has already handled within its grace window; `fanout` its heartbeat. And the
// queue of the durable events it consumes, `events.timelines`.

const QUEUE = { policy: 'standard', notify: true, retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300, deadLetter: 'dead-letters', deleteAfterSeconds: 86_400 };

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
    // The durable domain events it consumes (friendRequest.accepted), as Migration20261202090000's.
    this.addSql(`select pgboss.create_queue('events.timelines', '${JSON.stringify(QUEUE)}'::jsonb);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`select pgboss.delete_queue('events.timelines');`);
    this.addSql(`drop schema "timelines" cascade;`);
  }

}
