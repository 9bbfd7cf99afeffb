import { Migration } from '@mikro-orm/migrations';

// Where the fan-out's next pass starts looking (`timelines.scan`, one row): the earliest
// `created_at` that a general post not yet seen by the passes can have. A post is seen once its
// transaction has committed, and its `created_at` is its INSERT's time, so a post that commits
// late is older than the passes' window when it shows. The passes looked back over a grace
// window of a minute for such posts, and one committed later than that (a transaction held up
// by a frozen database, or posts created while the fan-out was down for longer) never reached
// the timelines, which were then served without it. Each pass now notes, before it takes its
// snapshot, the start of the oldest transaction of this database that holds a transaction id
// (one that has written), and the next pass looks back to there (TimelinesStore.pass): exactly
// as far as needed, however late. The row is apart from `fanout`, whose updates notify every
// instance (its heartbeat); this one changes at every pass.
export class Migration20261207140000 extends Migration {

  override name = 'Migration20261207140000';

  override up(): void | Promise<void> {
    this.addSql(`create table "timelines"."scan" ("id" int not null, "from_at" timestamptz(3) null, "next_at" timestamptz(3) null, primary key ("id"));`);
    // The first pass looks over the grace window, as every pass before this migration did.
    this.addSql(`insert into "timelines"."scan" ("id", "from_at", "next_at") values (1, null, null);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table "timelines"."scan";`);
  }

}
