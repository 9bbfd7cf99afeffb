// Home timelines, materialized on write. A reader's feed is the general posts of the reader
// and its friends, newest first; reading it by merging every friend's newest posts (fan-out
// on read) costs more with every friend. Here each reader's timeline is kept for it instead:
// the fan-out (a background pass of the worker, `fanOut`) pushes each new post into the
// timelines of its author's friends, in bulk, outside the writer's transaction. A page then
// reads one range of the reader's timeline, plus the reader's own posts and those of its
// "wide" friends (authors with too many friends to fan out to, read on demand: the hybrid).
//
// The feed stays exactly what fan-out on read would give once the fan-out has caught up:
// - what is read is filtered on read: entries by the reader's current friends only (so
//   unfriending shows at once), joined to the posts (deletions, closed accounts' posts and
//   edits show at once); the author of each post must still exist;
// - a timeline keeps its newest TIMELINE_LENGTH entries from its horizon on; a page past the
//   horizon is read on demand, and a page across it is the two joined, cursors unchanged;
// - a new friendship brings the friend's recent posts in (a durable consumer of
//   `friendRequest.accepted`, on the job queue);
// - while the fan-out has not caught up recently (no worker, or one far behind), feeds are read
//   on demand, as before this domain: a stopped worker makes feeds slower, never wrong.
//
// Pages read by cursor are kept in memory (TIMELINE_CACHE_PAGES), as the rows read, before the
// authors are added (their summaries are the accounts domain's cache): a page is served again,
// with no query, until something it was read from changes. PostgreSQL announces those changes to
// every instance (Migration20261202220000): the reader's timeline entries, horizon or friendships
// ("f:<owner>"), a new general post by an author the page reads on demand, the reader itself
// or a wide friend ("n:<author>"), an edit or deletion of a post the page read ("p:<post>"),
// and a change of the wide authors ("h:", which empties it). This instance's own writes evict
// at once, through the posts and social domains' in-process events, so that a writer reads its
// own write; others' within the caches' staleness bound (CACHE_MAX_STALENESS_MS), but for a new
// post: the fan-out pass that handles it announces its author ("n:", Migration20261205230000),
// so that it reaches the pages that read its author on demand as it reaches its friends'
// timelines (a post's own transaction does not notify: PostgreSQL commits notifying
// transactions one at a time, which held every post's commit behind the others'). Kept pages are
// served only while the fan-out is fresh, as the database sees it: each time a pass catches up
// it says so ("k:<when>"), and a page is served only while the last of these is more recent
// than TIMELINE_FRESH_MS (otherwise feeds are read on demand, as above). A page is kept for a
// ten minutes at most (KEPT_MS), a last resort for a change that would come without a notification.
import type { FeedRow, Key, PassOutcome, TimelinesStore } from '../../persistence/timelines/index.ts';
import { compareKeys } from '../../persistence/timelines/index.ts';
import type { AccountsService, Caller } from '../accounts/index.ts';
import { noCaching, stringBytes, TaggedCache, type Caching, type Tag } from '../cache.ts';
import { pageStart, toPage, type Page, type PageRequest } from '../pagination.ts';
import { postBy, type Post } from '../posts/index.ts';
import type { SocialService } from '../social/index.ts';
import type { TimelinesSettings } from './model.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

const byTime = { byTime: true };
/** How long a feed page is kept at most, however little changed. */
const KEPT_MS = 600_000;
const createdAt = (row: FeedRow) => row.createdAt;

/**
 * A page as read (its rows, one beyond the page, which tells whether there is a next one), and
 * what it was read from. The rows are kept as columns, times as numbers: about half the memory
 * of row objects with their dates; the rows are made again at each hit. Every feed row is a
 * general post (its channel is null).
 */
export interface CachedPage {
  ownerId: string;
  /** The authors read on demand: the reader and its wide friends. */
  onDemand: string[];
  ids: string[];
  authorIds: string[];
  texts: string[];
  /** Per row: created at, updated at (ms since the epoch), version. */
  numbers: Float64Array;
}

export function keep(ownerId: string, onDemand: string[], rows: FeedRow[]): CachedPage {
  const numbers = new Float64Array(rows.length * 3);
  rows.forEach((row, i) => {
    numbers[i * 3] = row.createdAt.getTime();
    numbers[i * 3 + 1] = row.updatedAt.getTime();
    numbers[i * 3 + 2] = row.version;
  });
  return { ownerId, onDemand, ids: rows.map((r) => r.id), authorIds: rows.map((r) => r.authorId), texts: rows.map((r) => r.text), numbers };
}

function rowsOf(page: CachedPage): FeedRow[] {
  return page.ids.map((id, i) => {
    const created = page.numbers[i * 3]!;
    const updated = page.numbers[i * 3 + 1]!;
    const createdAt = new Date(created);
    return {
      id,
      authorId: page.authorIds[i]!,
      channelId: null,
      text: page.texts[i]!,
      createdAt,
      // An unedited post's two times are one Date, as the posts store reads them.
      updatedAt: updated === created ? createdAt : new Date(updated),
      version: page.numbers[i * 3 + 2]!,
    };
  });
}

/**
 * What a kept page weighs in memory, estimated from above: 1,000 bytes for the page (its key,
 * entry, arrays and numbers; measured: 850), 60 for each author it reads on demand, and for each
 * post 250 (two ids and their index entries; measured: 185) and its text (`stringBytes`).
 * Measured against the cache itself (test/unit-cache-weights.test.ts): a page of 21 posts of 100
 * characters holds 7.1 KiB, one of 21 posts of 5,000 Greek characters 212 KiB. Posts run from one character to
 * 5,000, so a bound on the pages' count alone is no bound on their memory: a thousand pages of
 * long posts would hold 100 to 200 MiB.
 */
export function feedPageBytes(page: { ids: readonly string[]; texts: readonly string[]; onDemand: readonly string[] }): number {
  let bytes = 1000 + 60 * page.onDemand.length;
  for (let i = 0; i < page.ids.length; i++) bytes += 250 + stringBytes(page.texts[i]!);
  return bytes;
}

export function* pageTags(page: CachedPage): Iterable<Tag> {
  yield ['f', page.ownerId];
  for (const author of page.onDemand) yield ['n', author];
  for (const id of page.ids) yield ['p', id];
}

/** What changed, as this instance's writers tell it: the pages it touches are evicted at once. */
export interface FeedChange {
  /** Accounts whose friendships changed. */
  owners?: string[];
  /** Authors who published, edited or deleted a general post. */
  authors?: string[];
  posts?: string[];
}

/**
 * What the timelines domain does when asked, in process or through the stub
 * (src/remote/timelines.ts, over internal/timelines.openapi.yaml).
 */
export interface TimelinesCalls {
  feed(caller: Caller, request: PageRequest): Promise<Page<Post>>;
  /** `full`: look over the whole grace window too, and trim every timeline that grew, now; `{}`: as the worker's passes do. */
  fanOut(options: { full?: boolean }): Promise<PassOutcome>;
  onFriendRequestAccepted(event: { accountId: string; friendId: string }, uow?: UnitOfWork): Promise<void>;
  forgetAccount(accountId: string): Promise<void>;
}

/**
 * The timelines domain's public service: its calls, and the fan-out's loop, which runs in the
 * workers of the process that serves the domain (the timelines server's when it is served apart).
 */
export interface TimelinesService extends TimelinesCalls {
  startFanOut(hooks?: { onPass?(outcome: PassOutcome): void; onError?(error: unknown): void }): { stop(): Promise<void> };
}

/** The most timelines trimmed after one fan-out pass (each read back to its length'th entry, the rest deleted). */
const TRIM_CHUNK = 200;
/** The fewest: a trim costs a round trip and the lock whatever its size. */
const TRIM_CHUNK_MIN = 10;
/**
 * About how long one trim may hold the fan-out's lock, which the next pass (new posts reaching
 * feeds) waits for. Under full write load on a shared core a trim of 200 timelines took up to
 * 2.1 s (bench/README.md, "Trims sized by their time"), and new posts waited that long.
 */
export const TRIM_BUDGET_MS = 200;

/** How fast a slow pace is forgotten: it counts half as much this long after it was seen. */
export const TRIM_PACE_HALF_LIFE_MS = 10_000;

/**
 * The pace trims are sized by, in ms per timeline, after a trim of `lastSize` timelines that took
 * `lastMs`, `sinceMs` after the pace was last set to `pace`: that trim's pace, or the slower pace
 * before it, halved every TRIM_PACE_HALF_LIFE_MS since. A trim's cost per timeline follows the
 * load, and the slowest recent pace stands for a while: trims run between passes even when the
 * instance is idle (between bursts of writes), and sized by a quick trim of those moments, the
 * next trim under load would take several times its budget. A trim of fewer than
 * TRIM_CHUNK_MIN (the last of a queue) leaves the pace as it was: its time is mostly the round
 * trip's.
 */
export function nextTrimPace(pace: number, sinceMs: number, lastSize: number, lastMs: number): number {
  const remembered = pace * 0.5 ** (Math.max(0, sinceMs) / TRIM_PACE_HALF_LIFE_MS);
  if (lastSize < TRIM_CHUNK_MIN) return remembered;
  return Math.max(lastMs / lastSize, remembered);
}

/**
 * How many timelines a trim takes at `pace` (ms per timeline): as many as fit in
 * TRIM_BUDGET_MS, between TRIM_CHUNK_MIN and TRIM_CHUNK. Under load the chunk shrinks and the
 * timelines not trimmed yet wait their turn: a timeline left longer than its length changes no
 * read, since a page reads from the newest entry and a timeline is complete from its horizon on.
 */
export function trimChunk(pace: number): number {
  const fits = pace > 0 ? Math.floor(TRIM_BUDGET_MS / pace) : TRIM_CHUNK;
  return Math.max(TRIM_CHUNK_MIN, Math.min(TRIM_CHUNK, fits));
}

/** Timelines remembered as grown at most: past it, every one of them is trimmed (memory's bound). */
const MAX_GROWN = 100_000;
/** The entries a timeline may gain past its length before it is trimmed: a tenth of it. */
export function trimSlack(length: number): number {
  return Math.max(1, Math.floor(length / 10));
}

export class HomeTimelines implements TimelinesService {
  readonly #store: TimelinesStore;
  readonly #accounts: AccountsService;
  readonly #social: SocialService;
  readonly #settings: TimelinesSettings;
  /** Entries each timeline gained since it was last trimmed (or taken for a trim). */
  readonly #grown = new Map<string, number>();
  /** Owners being trimmed, a chunk after each pass (a trim holds the fan-out's lock). */
  #trimming: string[] = [];
  /** The pace the next trim is sized by, in ms per timeline, and when it was set (see nextTrimPace). */
  #trimPace = TRIM_BUDGET_MS / TRIM_CHUNK;
  #trimPaceAt = 0;
  #lastTrim = 0;
  /** When the handled posts that no pass looks at again were last forgotten. */
  #lastForget = 0;
  readonly #pages: TaggedCache<CachedPage>;
  /**
   * When the fan-out last caught up, as its notifications tell, on this process's monotonic
   * clock (`performance.now()`): the time they carry is the database's, and this instance's
   * clock may be off it either way. Taken as the moment heard, less the delay since the time it
   * carries, counted on the database's clock (the invalidation source measures how far it is from
   * ours; until it has, on ours) when that delay is positive. An instance whose clock lags cannot
   * make a page look fresher than when it was heard, and one whose clock runs ahead does not take
   * every heartbeat for an old one (and then never serve a kept page).
   */
  #caughtUpAt = Number.NEGATIVE_INFINITY;

  constructor(store: TimelinesStore, others: { accounts: AccountsService; social: SocialService }, settings: TimelinesSettings, caching: Caching = noCaching) {
    this.#store = store;
    this.#accounts = others.accounts;
    this.#social = others.social;
    this.#settings = settings;
    this.#pages = new TaggedCache(caching, {
      name: 'feed_pages',
      topics: ['f', 'n', 'p'],
      resetTopics: ['h'],
      // Also 'k' (the fan-out caught up), heard below.
      tagsOf: pageTags,
      maxEntries: settings.cachePages,
      weightOf: feedPageBytes,
      maxWeight: settings.cacheBytes,
      ttlMs: KEPT_MS,
      usable: () => performance.now() - this.#caughtUpAt < settings.freshMs,
    });
    caching.source.on('k', (ids) => {
      const at = Number(ids[0]);
      if (Number.isFinite(at)) this.#caughtUpAt = performance.now() - Math.max(0, Date.now() + (caching.source.clockOffsetMs ?? 0) - at);
    });
    caching.source.onReset(() => {
      this.#caughtUpAt = Number.NEGATIVE_INFINITY;
    });
  }

  /** This instance's own writes: the pages they touch are evicted now, not when PostgreSQL's notification comes back. */
  forgetPages(change: FeedChange | 'all'): void {
    if (change === 'all') return this.#pages.clear();
    if (change.owners?.length) this.#pages.evict('f', change.owners);
    if (change.authors?.length) this.#pages.evict('n', change.authors);
    if (change.posts?.length) this.#pages.evict('p', change.posts);
  }

  /** The general posts of the caller and its friends, newest first. */
  async feed(caller: Caller, request: PageRequest): Promise<Page<Post>> {
    const ownerId = caller.accountId;
    const filters = { feedOf: ownerId };
    const start = pageStart(request, filters, this.#settings.maxPage, byTime);
    const limit = request.limit + 1;
    const before: Key | undefined = start.afterAt && start.afterId ? { at: start.afterAt, id: start.afterId } : undefined;
    let rows: FeedRow[];
    if (start.offset !== undefined) {
      // A page number (v1's `page`, capped by MAX_PAGE): read on demand.
      rows = await this.#store.onRead([ownerId, ...(await this.#social.friendIdsOf(ownerId))], limit, undefined, start.offset);
    } else {
      const key = `${ownerId} ${limit} ${request.cursor ?? ''}`;
      const cached = this.#pages.get(key);
      if (cached) {
        rows = rowsOf(cached);
      } else {
        const stamp = this.#pages.stamp();
        const read = await this.#page(ownerId, limit, before);
        rows = read.rows;
        if (read.onDemand && rows.every((row) => row.channelId === null)) this.#pages.set(key, keep(ownerId, read.onDemand, rows), stamp);
      }
    }
    const page = toPage(rows, request.limit, filters, createdAt);
    return { items: await this.#withAuthors(page.items), nextCursor: page.nextCursor };
  }

  /**
   * The rows of a page by cursor, and (`onDemand`, the authors it read on demand) whether it may
   * be kept: not when it was read on demand because the fan-out is behind, since it then
   * depends on every friend's new posts.
   */
  async #page(ownerId: string, limit: number, before: Key | undefined): Promise<{ rows: FeedRow[]; onDemand?: string[] }> {
    // The friends, the timeline's state and the fan-out's freshness: one statement.
    let state = await this.#store.state(ownerId, this.#settings.freshMs);
    let authors = [ownerId, ...state.friends];
    if (!state.fresh) return { rows: await this.#store.onRead(authors, limit, before) };
    if (!state.materialized) {
      await this.#store.materialize(ownerId, this.#settings.length);
      // Like every write of this instance, it evicts at once (PostgreSQL's notification of the
      // new entries may come after this read is kept, or before the next one: a page kept or not
      // depending on the machine's speed).
      this.forgetPages({ owners: [ownerId] });
      state = await this.#store.state(ownerId, this.#settings.freshMs);
      authors = [ownerId, ...state.friends];
      if (!state.fresh || !state.materialized) return { rows: await this.#store.onRead(authors, limit, before) };
    }
    const { horizon, friends } = state;
    const onDemand = [ownerId, ...state.wideFriends];
    // The whole page is older than the timeline keeps: on demand (no new post can enter it).
    if (horizon && before && compareKeys(before, horizon) <= 0) return { rows: await this.#store.onRead(authors, limit, before), onDemand };
    const wide = new Set(state.wideFriends);
    const fanned = friends.filter((f) => !wide.has(f));
    const rows = await this.#store.page(ownerId, fanned, onDemand, limit, horizon, before);
    if (rows.length >= limit || !horizon) return { rows, onDemand };
    // The timeline ends at its horizon before the page is full: the rest is read on demand,
    // from just before the horizon (keys are unique, so nothing is read twice or skipped).
    return { rows: [...rows, ...(await this.#store.onRead(authors, limit - rows.length, horizon))], onDemand };
  }

  /**
   * One fan-out pass (the worker runs them one after the other, see `startFanOut`), and the
   * upkeep due: timelines that grew are cut back to their length now and then, and the handled
   * posts that no pass looks at again forgotten. A pass looks over the posts created since where
   * the passes before it said to start (TimelinesStore.pass: a post that committed late is read
   * by the first pass after its commit, however late); over the whole grace window too when
   * `full`. Returns what the pass did.
   */
  async fanOut(options: { full?: boolean }): Promise<PassOutcome> {
    const s = this.#settings;
    const now = Date.now();
    const full = options.full === true;
    const { added, ...outcome } = await this.#store.pass({ batch: s.batch, windowMs: s.windowMs, graceMs: s.graceMs, full, wideFriends: s.wideFriends, length: s.length });
    outcome.touched.forEach((owner, i) => this.#grow(owner, added[i] ?? 1));
    // This instance's own pass: its pages now, other instances' when the notification comes.
    if (outcome.touched.length > 0) this.forgetPages({ owners: outcome.touched });
    if (outcome.ran && outcome.caughtUp && (full || now - this.#lastForget >= s.forgetIntervalMs)) {
      this.#lastForget = now;
      await this.#store.forgetHandled(s.graceMs);
    }
    // Every trim interval, the timelines that gained a tenth of their length (all that grew, on a
    // full pass) are cut back to it: one chunk after each pass, since a trim holds the fan-out's
    // lock and the next pass (new posts reaching feeds) waits for it. A trim reads a timeline's
    // length'th entry whatever it gained: trimming every timeline that gained a few entries,
    // thousands at a time under load, held posts back from feeds for seconds.
    if (this.#grown.size > 0 && (options.full || (this.#trimming.length === 0 && now - this.#lastTrim >= s.trimIntervalMs))) {
      this.#lastTrim = now;
      const slack = options.full || this.#grown.size > MAX_GROWN ? 1 : trimSlack(s.length);
      for (const [owner, gained] of this.#grown) {
        if (gained < slack) continue;
        this.#trimming.push(owner);
        this.#grown.delete(owner);
      }
    }
    while (this.#trimming.length > 0) {
      const owners = this.#trimming.splice(0, trimChunk(this.#trimPace));
      const started = performance.now();
      try {
        await this.#store.trim(owners, s.length);
      } catch (error) {
        for (const owner of owners) this.#grow(owner, s.length); // the next trim takes them again
        throw error;
      }
      const ended = performance.now();
      this.#trimPace = nextTrimPace(this.#trimPace, ended - this.#trimPaceAt, owners.length, ended - started);
      this.#trimPaceAt = ended;
      this.forgetPages({ owners });
      if (!options.full) break;
    }
    return outcome;
  }

  /**
   * Runs fan-out passes until `stop` is called: another at once while a pass finds a full
   * batch, otherwise after TIMELINE_FANOUT_INTERVAL_MS. Passes of several workers exclude one
   * another (a row lock): one runs, the others skip their turn.
   */
  startFanOut(hooks: { onPass?(outcome: PassOutcome): void; onError?(error: unknown): void } = {}): { stop(): Promise<void> } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const loop = () => {
      if (stopped) return;
      running = (async () => {
        let again = false;
        try {
          const outcome = await this.fanOut({});
          hooks.onPass?.(outcome);
          again = outcome.ran && !outcome.caughtUp;
        } catch (error) {
          hooks.onError?.(error);
        }
        if (!stopped) timer = setTimeout(loop, again ? 0 : this.#settings.fanOutIntervalMs);
      })();
    };
    timer = setTimeout(loop, this.#settings.fanOutIntervalMs);
    return {
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await running;
      },
    };
  }

  /** Two accounts became friends: each one's timeline takes the other's recent posts (in the event's unit of work when given). */
  async onFriendRequestAccepted(event: { accountId: string; friendId: string }, uow?: UnitOfWork): Promise<void> {
    const { touched } = await this.#store.befriend(uow, [event.accountId, event.friendId], this.#settings.length);
    for (const owner of touched) this.#grow(owner, this.#settings.length);
    this.forgetPages({ owners: touched });
  }

  #grow(owner: string, entries: number): void {
    this.#grown.set(owner, (this.#grown.get(owner) ?? 0) + entries);
  }

  /** A closed account keeps no timeline. */
  async forgetAccount(accountId: string): Promise<void> {
    await this.#store.forgetOwner(accountId);
    // Nor is it waiting for a trim (it stayed in the map until its timeline gained enough, or a full pass).
    this.#grown.delete(accountId);
    // Its posts went from every page that read them, and its friends' friendships changed.
    this.#pages.clear();
  }

  async #withAuthors(rows: FeedRow[]): Promise<Post[]> {
    const authors = await this.#accounts.summaries(rows.map((r) => r.authorId));
    const posts: Post[] = [];
    for (const row of rows) {
      const author = authors.get(row.authorId);
      if (author) posts.push(postBy(row, author));
    }
    return posts;
  }
}
