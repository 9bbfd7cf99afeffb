// Reads and writes the `timelines` schema, and reads what it is made from: the general posts
// (`posts.post`) and the friendships (`social.friendship`), in SQL. The fan-out works in bulk
// (INSERT ... SELECT over the friendships) and never in the writers' transactions, so
// publishing a post costs what it did; a feed page reads one range of the reader's timeline
// joined to the posts (so deletions and edits show at once), whatever its number of friends.
//
// A feed's key is (created_at, id), newest first. A timeline holds every post of the owner's
// fanned-out friends whose key is at or after its horizon (null: all of them); the owner's own
// posts and those of wide authors are read on demand, and so is everything before the horizon.
import { asDate, joinOrBegin, type Database, type Row, type UnitOfWork } from '../sql.ts';

export interface FeedRow {
  id: string;
  authorId: string;
  channelId: string | null;
  text: string;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface Key {
  at: Date;
  id: string;
}

export interface TimelineState {
  /** The owner's timeline is kept (false: never read since the fan-out started, or closed). */
  materialized: boolean;
  /** Null: the timeline holds everything (or is not materialized). */
  horizon: Key | null;
  /** The owner's friends (the ids of `social.friendship`). */
  friends: string[];
  /** Those of them who are read on demand. */
  wideFriends: string[];
  /** The fan-out caught up within the freshness bound: timelines may be read. */
  fresh: boolean;
}

export interface FanOutSettings {
  /** How many posts (and friendships) one pass handles at most. */
  batch: number;
  /**
   * The last this many ms are looked over by every pass, besides where the last pass said to start
   * (`timelines.scan`): the margin of that bound, and a database clock set back (ms).
   */
  windowMs: number;
  /** How far back the first pass looks, with no bound noted yet, and a `full` one at least (ms). */
  graceMs: number;
  /** Look over the whole grace window too (HomeTimelines.fanOut's `full`). */
  full: boolean;
  /** Authors with more friends than this are not fanned out. */
  wideFriends: number;
  /** The entries each timeline keeps at least. */
  length: number;
}

export interface PassOutcome {
  /** False: another pass held the lock. */
  ran: boolean;
  posts: number;
  entries: number;
  /** Seconds from the oldest handled post's creation to its fan-out (0 when none). */
  maxLagSeconds: number;
  /** The owners whose timelines grew. */
  touched: string[];
  /** Nothing was left to handle (the batch was not full). */
  caughtUp: boolean;
}

/** A pass as the store reports it: also how many entries each touched timeline gained. */
export interface StorePass extends PassOutcome {
  /** Entries written to each of `touched`, in its order. */
  added: number[];
}

const POST_COLUMNS = ['id', 'author_id', 'channel_id', 'text', 'created_at', 'updated_at', 'version'];
// The fan-out's lock: the row of its heartbeat, locked for the transaction (a row lock, not an
// advisory one: those are the idempotency keys').
const LOCK = 'select 1 as locked from timelines.fanout where id = 1 for update';

function fromRecord(r: Row): FeedRow {
  return {
    id: r.id as string,
    authorId: r.author_id as string,
    channelId: (r.channel_id as string | null) ?? null,
    text: r.text as string,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    version: Number(r.version),
  };
}

/**
 * The bound a pass notes before it takes its snapshot (`timelines.scan.next_at`): the earliest
 * `created_at` that a general post it will not see can have. Such a post belongs to a transaction
 * that has not committed when the pass's snapshot is taken, and its `created_at` is its INSERT's
 * time (PostsStore.insert). Either that transaction holds a transaction id now, having written,
 * and then its post is no older than its start (`xact_start`), or it writes its post later, at
 * the clock's time or after. Hence the earliest start among the transactions of this database
 * that hold an id, or the clock when none is older, less `$1` ms for what happens between a
 * statement's time and its transaction id (microseconds, barring a stalled server). A writing
 * transaction whose start is hidden from this role (another role's, without pg_read_all_stats;
 * every one's, with `track_activities` off) puts the bound `$2` ms back, as far as the passes
 * looked before (the grace window). Autovacuum's workers are left out: they write no posts, and
 * their starts are hidden from every role but a superuser's (an analysis holds a transaction id
 * while it writes its statistics).
 */
const NEXT_BOUND = `with lock as (
    select 1 as locked from timelines.fanout where id = 1 for update skip locked
  )
  update timelines.scan s
     set next_at = b.bound - make_interval(secs => $1::int / 1000.0)
    from (select least(clock_timestamp(), min(a.xact_start),
                       case when count(*) filter (where a.xact_start is null) > 0
                            then clock_timestamp() - make_interval(secs => $2::int / 1000.0) end) as bound
            from pg_stat_activity a
           where a.datname = current_database() and a.backend_xid is not null and a.pid <> pg_backend_pid()
             and a.backend_type <> 'autovacuum worker') b
   where s.id = 1 and exists (select 1 from lock)`;

/**
 * The fan-out pass's read: the general posts created at or after `from_at` (the `scan` CTE) that
 * no pass handled yet, oldest first, the batch ($2) at most, from
 * `post_channel_id_created_at_id_index` in its order.
 */
const UNHANDLED_POSTS = `select p.id, p.author_id, p.created_at from posts.post p
     where p.channel_id is null and p.created_at >= (select from_at from scan)
       and not exists (select 1 from timelines.handled h where h.created_at = p.created_at and h.id = p.id)
     order by p.channel_id, p.created_at, p.id
     limit $2`;

function columns(alias: string): string {
  return POST_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

/** `(at, id) op ($n, $n+1)` with its parameters appended. */
function keyCondition(params: unknown[], left: string, op: '<' | '>=', key: Key): string {
  params.push(key.at.toISOString(), key.id);
  return `(${left}) ${op} ($${params.length - 1}::timestamptz, $${params.length}::uuid)`;
}

export class TimelinesStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * In one statement: the owner's friends (which of them are wide), its timeline's state, and
   * whether the fan-out is fresh.
   */
  async state(ownerId: string, freshMs: number): Promise<TimelineState> {
    const [row] = await this.#db.query(
      `select o.owner_id is not null as materialized, o.horizon_at, o.horizon_id,
              (select f.caught_up_at > now() - make_interval(secs => $2::int / 1000.0) from timelines.fanout f where f.id = 1) as fresh,
              array(select s.friend_id from social.friendship s where s.account_id = $1) as friends,
              array(select w.account_id from social.friendship s join timelines.wide w on w.account_id = s.friend_id where s.account_id = $1) as wide
         from (select 1) one left join timelines.owner o on o.owner_id = $1`,
      [ownerId, freshMs],
    );
    return {
      materialized: row!.materialized === true,
      horizon: row!.horizon_at ? { at: asDate(row!.horizon_at), id: row!.horizon_id as string } : null,
      friends: (row!.friends as string[] | null) ?? [],
      wideFriends: (row!.wide as string[] | null) ?? [],
      fresh: row!.fresh === true,
    };
  }

  /**
   * Fan-out on read: the newest general posts of any of `authorIds` before `before`, in three
   * steps. 1. Per author, the keys of its first `offset + limit` general posts before the
   * cursor, from `post_author_id_channel_id_created_at_id_index` alone (a backward index-only
   * scan that stops at the limit); 2. those keys merged and cut to the page; 3. the page's rows
   * by primary key. The inner `order by` leads with `channel_id`, null on every row there:
   * without it the planner does not see that the index range is in (created_at, id) order.
   */
  async onRead(authorIds: string[], limit: number, before?: Key, offset = 0): Promise<FeedRow[]> {
    if (authorIds.length === 0 || limit <= 0) return [];
    const params: unknown[] = [authorIds, offset + limit, limit, offset];
    const after = before ? `and ${keyCondition(params, 'x.created_at, x.id', '<', before)}` : '';
    const rows = await this.#db.query(
      `select ${columns('p')}
         from (
           select k.created_at, k.id
             from unnest($1::uuid[]) as a(author_id)
             cross join lateral (
               select x.created_at, x.id from posts.post x
                where x.author_id = a.author_id and x.channel_id is null ${after}
                order by x.channel_id desc, x.created_at desc, x.id desc
                limit $2
             ) k
            order by k.created_at desc, k.id desc
            limit $3 offset $4
         ) page
         join posts.post p on p.id = page.id
        order by page.created_at desc, page.id desc`,
      params,
    );
    return rows.map(fromRecord);
  }

  /**
   * One page from the owner's timeline at or after `horizon` (and before `before`): its entries
   * by the authors in `fannedIds` (the friends it has now, so an unfriended author's entries
   * are skipped), joined to the posts (a deleted post is skipped, an edited one read as it is
   * now), merged with the general posts of `onDemandIds` (the owner and its wide friends) in
   * the same range.
   */
  async page(ownerId: string, fannedIds: string[], onDemandIds: string[], limit: number, horizon: Key | null, before?: Key): Promise<FeedRow[]> {
    const params: unknown[] = [ownerId, fannedIds, onDemandIds, limit];
    const entryRange: string[] = [];
    const postRange: string[] = [];
    if (horizon) {
      entryRange.push(keyCondition(params, 'e.created_at, e.post_id', '>=', horizon));
      postRange.push(keyCondition(params, 'x.created_at, x.id', '>=', horizon));
    }
    if (before) {
      entryRange.push(keyCondition(params, 'e.created_at, e.post_id', '<', before));
      postRange.push(keyCondition(params, 'x.created_at, x.id', '<', before));
    }
    const and = (conditions: string[]) => conditions.map((c) => ` and ${c}`).join('');
    const rows = await this.#db.query(
      `select * from (
         (select ${columns('p')}
            from timelines.entry e
            join posts.post p on p.id = e.post_id
           where e.owner_id = $1 and e.author_id = any($2::uuid[])${and(entryRange)}
           order by e.created_at desc, e.post_id desc
           limit $4)
         union all
         (select k.*
            from unnest($3::uuid[]) as a(author_id)
            cross join lateral (
              select ${columns('x')} from posts.post x
               where x.author_id = a.author_id and x.channel_id is null${and(postRange)}
               order by x.channel_id desc, x.created_at desc, x.id desc
               limit $4
            ) k)
       ) page
       order by page.created_at desc, page.id desc
       limit $4`,
      params,
    );
    return rows.map(fromRecord);
  }

  /**
   * Makes `ownerId`'s timeline (its first feed read): its friends' newest `length` general
   * posts, horizon at the oldest of them when there are more. Under the fan-out's lock, so that
   * a post is either seen here or by a pass that knows the owner.
   */
  async materialize(ownerId: string, length: number): Promise<void> {
    await this.#db.transaction(async (uow) => {
      await uow.query(LOCK, []);
      const [done] = await uow.query('select 1 as found from timelines.owner where owner_id = $1', [ownerId]);
      if (done) return;
      const written = await uow.query(
        `with newest as (
           select k.created_at, k.id, k.author_id
             from social.friendship s
             cross join lateral (
               select x.created_at, x.id, x.author_id from posts.post x
                where x.author_id = s.friend_id and x.channel_id is null
                order by x.channel_id desc, x.created_at desc, x.id desc
                limit $2
             ) k
            where s.account_id = $1
            order by k.created_at desc, k.id desc
            limit $2
         ), written as (
           insert into timelines.entry (owner_id, created_at, post_id, author_id)
           select $1, created_at, id, author_id from newest
           on conflict do nothing
         )
         select created_at, id as post_id from newest`,
        [ownerId, length],
      );
      const oldest = written.length >= length ? oldestKey(written) : null;
      await uow.query('insert into timelines.owner (owner_id, horizon_at, horizon_id) values ($1, $2::timestamptz, $3::uuid) on conflict do nothing', [
        ownerId,
        oldest ? oldest.at.toISOString() : null,
        oldest?.id ?? null,
      ]);
    });
  }

  /**
   * One pass of the fan-out, in one transaction under its lock (nothing when another pass holds
   * it), sent as one message: one round trip, however busy this process's event loop is (five
   * when each statement waited for it, which under full load held posts back from feeds for
   * hundreds of ms). The general posts created since where the last pass said to start
   * (`timelines.scan.from_at`; the last `windowMs` at least, the grace window when `full` or when
   * no pass has noted a bound yet) that no pass handled yet (their `created_at` is the
   * database's clock, as `now()` is: see PostsStore.insert), `batch` at most, the oldest first:
   * each goes to the timelines of its author's friends that are kept, unless the author is wide.
   * Before its snapshot the pass notes where the next one must start (NEXT_BOUND), and once it
   * has handled everything it saw, that becomes `from_at`; a pass cut short by its batch moves
   * `from_at` only up to the last post it handled, so a pass never reads again what the passes
   * before it went through, and a post that committed late, however late, is read by the first
   * pass after its commit. A pass that caught up writes the heartbeat, at most once a second. It
   * announces the authors of the posts it handled ("n:", 200 a notification), for the feed pages
   * that read them on demand (their own, their wide friends' friends'): a post's own transaction
   * does not notify, since PostgreSQL commits notifying transactions one at a time
   * (Migration20261205230000). The statement selects the count of `announced` only so that
   * PostgreSQL runs that CTE: one that nothing refers to is not run.
   */
  async pass(s: FanOutSettings): Promise<StorePass> {
    // The lock first, in a statement of its own that notes the next pass's bound: the pass's
    // statement takes its snapshot once the lock is held, so it sees everything the lock's last
    // holder (a pass, a new friendship) committed, and after the bound was read, so that a post
    // it does not see is no older than the bound. It takes the lock again (held already: it has
    // it; not held: it skips, and the pass does nothing). Should the lock come free between the
    // two, the pass runs with the bound an earlier pass noted: earlier, so still a bound.
    const [, rows] = await this.#db.atomically([{ sql: NEXT_BOUND, params: [s.windowMs, s.graceMs] }, {
      sql: `with lock as (
         select 1 as locked from timelines.fanout where id = 1 for update skip locked
       ), scan as (
         -- Where this pass starts: the bound the passes before it noted, the last $1 ms at least;
         -- the grace window ($5 ms) at least on a full pass ($4), or before any bound was noted.
         select case when $4::bool or s.from_at is null
                     then least(s.from_at, now() - make_interval(secs => $5::int / 1000.0))
                     else least(s.from_at, now() - make_interval(secs => $1::int / 1000.0)) end as from_at
           from timelines.scan s where s.id = 1
       ), fresh as (
         select f.id, f.author_id, f.created_at from (${UNHANDLED_POSTS}) f
          where exists (select 1 from lock)
       ), handled as (
         insert into timelines.handled (created_at, id) select created_at, id from fresh on conflict do nothing
       ), authors as (
         select a.author_id,
                exists (select 1 from timelines.wide w where w.account_id = a.author_id)
                  or (select count(*) from social.friendship s where s.friend_id = a.author_id) > $3 as wide
           from (select distinct author_id from fresh) a
       ), announced as (
         select pg_notify('agora_invalidate', 'n:' || string_agg(author_id::text, ','))
           from (select author_id, (row_number() over () - 1) / 200 as chunk from authors) c
          group by chunk
       ), widened as (
         insert into timelines.wide (account_id) select author_id from authors where wide on conflict do nothing
       ), written as (
         insert into timelines.entry (owner_id, created_at, post_id, author_id)
         select s.account_id, f.created_at, f.id, f.author_id
           from fresh f
           join authors a on a.author_id = f.author_id and not a.wide
           join social.friendship s on s.friend_id = f.author_id
           join timelines.owner o on o.owner_id = s.account_id
         on conflict do nothing
         returning owner_id
       ), grew as (
         select owner_id, count(*)::int as n from written group by owner_id
       ), heartbeat as (
         update timelines.fanout set caught_up_at = now()
          where id = 1 and exists (select 1 from lock) and (select count(*) from fresh) < $2
            and caught_up_at < now() - interval '1 second'
       ), scanned as (
         -- Where the next pass starts: this one's bound once it saw everything, or the last post
         -- it handled when its batch cut it short (those before it that it could see, it handled).
         update timelines.scan s
            set from_at = greatest(s.from_at, case when (select count(*) from fresh) < $2 then s.next_at
                                                   else least(s.next_at, (select max(created_at) from fresh)) end)
          where s.id = 1 and exists (select 1 from lock)
       )
       select exists (select 1 from lock) as ran,
              (select count(*) from fresh)::int as posts,
              coalesce(extract(epoch from now() - (select min(created_at) from fresh)), 0)::float8 as lag,
              coalesce((select array_agg(owner_id order by owner_id) from grew), '{}') as touched,
              coalesce((select array_agg(n order by owner_id) from grew), '{}') as added,
              (select count(*) from written)::int as entries,
              (select count(*) from announced)::int as announced`,
      params: [s.windowMs, s.batch, s.wideFriends, s.full, s.graceMs],
    }]);
    const r = rows![0]!;
    if (!r.ran) return { ran: false, posts: 0, entries: 0, maxLagSeconds: 0, touched: [], added: [], caughtUp: false };
    const posts = Number(r.posts);
    return {
      ran: true,
      posts,
      entries: Number(r.entries),
      maxLagSeconds: Math.max(0, Number(r.lag)),
      touched: r.touched as string[],
      added: (r.added as unknown[]).map(Number),
      caughtUp: posts < s.batch,
    };
  }

  /**
   * A new friendship (`friendRequest.accepted`, consumed in the job's unit of work): each side
   * that keeps a timeline gets the other's general posts at or after its horizon (its newest
   * `length` of them; when it has more there, the horizon moves up to the oldest one taken, so
   * the timeline stays complete after it). Under the fan-out's lock, so that a post is either
   * fanned out by a pass that sees the friendship or taken here. Returns the owners that grew.
   */
  async befriend(given: UnitOfWork | undefined, pair: [string, string], length: number): Promise<{ entries: number; touched: string[] }> {
    // In the caller's unit of work (the event's job), or in a transaction of its own.
    return joinOrBegin(this.#db, given, (uow) => this.#befriend(uow, pair, length));
  }

  async #befriend(uow: UnitOfWork, pair: [string, string], length: number): Promise<{ entries: number; touched: string[] }> {
    await uow.query(LOCK, []);
    const owners = await uow.query(
      `select o.owner_id, o.horizon_at, o.horizon_id, case when o.owner_id = $1 then $2 else $1 end as friend_id
         from timelines.owner o
        where o.owner_id in ($1, $2)
          and exists (select 1 from social.friendship s where s.account_id = $1 and s.friend_id = $2)`,
      pair,
    );
    let entries = 0;
    const touched: string[] = [];
    for (const row of owners) {
      const owner = row.owner_id as string;
      const params: unknown[] = [owner, row.friend_id, length];
      const range = row.horizon_at ? `and ${keyCondition(params, 'x.created_at, x.id', '>=', { at: asDate(row.horizon_at), id: row.horizon_id as string })}` : '';
      const written = await uow.query(
        `with taken as (
           select x.created_at, x.id, x.author_id from posts.post x
            where x.author_id = $2 and x.channel_id is null ${range}
            order by x.channel_id desc, x.created_at desc, x.id desc
            limit $3
         ), written as (
           insert into timelines.entry (owner_id, created_at, post_id, author_id)
           select $1, created_at, id, author_id from taken
           on conflict do nothing
         )
         select created_at, id as post_id from taken`,
        params,
      );
      entries += written.length;
      if (written.length > 0) touched.push(owner);
      if (written.length >= length) {
        // More of the friend's posts than the timeline keeps: it is complete from the oldest taken.
        const oldest = oldestKey(written)!;
        await uow.query(
          `update timelines.owner set horizon_at = $2::timestamptz, horizon_id = $3::uuid
            where owner_id = $1 and (horizon_at is null or (horizon_at, horizon_id) < ($2::timestamptz, $3::uuid))`,
          [owner, oldest.at.toISOString(), oldest.id],
        );
      }
    }
    return { entries, touched };
  }

  /**
   * Cuts the timelines of `ownerIds` to their newest `length` entries at or after their
   * horizon, which moves up to the oldest entry kept. Under the fan-out's lock.
   */
  async trim(ownerIds: string[], length: number): Promise<number> {
    if (ownerIds.length === 0) return 0;
    // Under the fan-out's lock, taken by a statement of its own so that the trim's snapshot comes
    // after it; both in one round trip.
    const [, rows] = await this.#db.atomically([{ sql: LOCK }, {
      sql: `with cut as (
           select o.owner_id, k.created_at, k.post_id
             from timelines.owner o
             cross join lateral (
               select e.created_at, e.post_id from timelines.entry e
                where e.owner_id = o.owner_id and (o.horizon_at is null or (e.created_at, e.post_id) >= (o.horizon_at, o.horizon_id))
                order by e.created_at desc, e.post_id desc
                offset $2 limit 1
             ) k
            where o.owner_id = any(string_to_array($1, ',')::uuid[])
         ), moved as (
           update timelines.owner o set horizon_at = cut.created_at, horizon_id = cut.post_id
             from cut where o.owner_id = cut.owner_id
         ), gone as (
           delete from timelines.entry e using cut
            where e.owner_id = cut.owner_id and (e.created_at, e.post_id) < (cut.created_at, cut.post_id)
           returning 1
         )
         select (select count(*) from gone)::int as deleted`,
      params: [ownerIds.join(','), length - 1],
    }]);
    return Number(rows![0]!.deleted);
  }

  /**
   * Forgets the handled posts that no pass looks at again: those created before where the next
   * pass starts and before the grace window (a full pass looks over it). Returns how many rows
   * went, counted in the database (one row back, not one per deleted row).
   */
  async forgetHandled(graceMs: number): Promise<number> {
    const [counted] = await this.#db.query<{ gone: number }>(
      `with gone as (
         delete from timelines.handled
          where created_at < least((select s.from_at from timelines.scan s where s.id = 1), now() - make_interval(secs => $1::int / 1000.0))
         returning 1
       )
       select count(*)::int as gone from gone`,
      [graceMs],
    );
    return counted!.gone;
  }

  /** A closed account's timeline, and its being wide. (Its posts leave the others' at once: they are deleted.) */
  async forgetOwner(accountId: string): Promise<void> {
    await this.#db.query(
      `with a as (delete from timelines.entry where owner_id = $1), b as (delete from timelines.wide where account_id = $1)
       delete from timelines.owner where owner_id = $1`,
      [accountId],
    );
  }
}

function oldestKey(rows: Row[]): Key | null {
  let oldest: Key | null = null;
  for (const r of rows) {
    const key = { at: asDate(r.created_at), id: r.post_id as string };
    if (!oldest || compareKeys(key, oldest) < 0) oldest = key;
  }
  return oldest;
}

/** Feed order's comparison: by time, then by id (uuids compare as their lowercase hex does). */
export function compareKeys(a: Key, b: Key): number {
  const t = a.at.getTime() - b.at.getTime();
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
