// Notifications (NOTIFY) sent after a write has committed, in short transactions of their own,
// gathered: at most one such statement is in flight from a Notices at a time, and what is added
// meanwhile goes in the next one, each (channel, payload) once. The server's Notices sends them
// on the invalidation listener's connection (`CreateDatabaseOptions.noticesVia`, sql.ts): on the
// pool, under load, the statement waited behind the requests' for a connection, and the live
// streams' deliveries came about 300 ms later at p50 (bench/README.md).
//
// Why not in the writing transaction, where PostgreSQL would deliver them at its commit: a
// transaction that has sent a NOTIFY takes PostgreSQL's one lock for the notification queue
// before its commit and holds it until its commit record is on disk (`PreCommit_Notify`,
// async.c), so notifying transactions commit one after another, at the disk's sync rate,
// whatever else they do. Every message sent notified twice (its participants' live streams,
// and pg-boss's insert of its notification job), so messages committed one at a time. Sent
// after the commit, and gathered, an instance's notifications take that lock once per gathered
// statement, not once per write.
//
// Under a stream of writes the statements are spaced (`spacingMs`: the next goes at least that
// long after the one before it was sent), so that each carries more; and the ids that several
// writes announce on one topic (`addIds`: the live streams' wake-ups, `w:<id>,<id>…`) go joined,
// in as few payloads as fit, each id once. Under send-message's load at small scale, unspaced,
// the statements carried 2.6 messages' wake-ups each, one payload a message (bench/README.md).
//
// What this gives up: a notification now follows its commit by a round trip, and a process that
// dies between the two never sends it. Every listener here treats a notification as a hint to
// look sooner, and looks anyway: an open live stream rechecks its sources every 30 s
// (src/services/stream/), a job worker polls (JOBS_POLL_INTERVAL_MS).

/** What a write ran on (sql.ts's Queryable: the pool, or a UnitOfWork, which is `transaction: true`). */
interface WrittenThrough {
  query(sql: string, params?: readonly unknown[]): Promise<unknown>;
  afterCommit?(callback: () => void): void;
}

/** Sends one statement's notifications: `pg_notify(channels[i], payloads[i])` for each i. */
export type SendNotices = (sql: string, params: [channels: string[], payloads: string[]]) => Promise<unknown>;

/** The one statement a Notices sends: its notifications, as two arrays of the same length. */
export const NOTICES_SQL = 'select pg_notify(n.channel, n.payload) from unnest($1::text[], $2::text[]) as n(channel, payload)';

/** At most this many notifications in one statement; the rest go in the next. */
const MAX_A_STATEMENT = 500;

/** Ids a topic's notifications name, joined: `<topic>:<id>,<id>…`, at most `perPayload` ids a payload. */
interface PendingIds {
  channel: string;
  topic: string;
  perPayload: number;
  ids: Set<string>;
}

export interface NoticesOptions {
  /** The least time between two statements' sending (ms; 0, the default: each as soon as the one before is answered). */
  spacingMs?: number;
  /** The clock `spacingMs` is measured with (ms). */
  now?: () => number;
}

export class Notices {
  readonly #send: SendNotices;
  readonly #onError: (error: unknown, lost: number) => void;
  readonly #spacingMs: number;
  readonly #now: () => number;
  /** By channel, the payloads not yet sent. */
  readonly #pending = new Map<string, Set<string>>();
  /** By channel and topic, the ids not yet sent. */
  readonly #pendingIds = new Map<string, PendingIds>();
  /** When the last statement was sent (-Infinity: none yet). */
  #sentAt = Number.NEGATIVE_INFINITY;
  /** The statement in flight, or the turn of the event loop that sends the next one. */
  #flushing: Promise<void> | undefined;
  readonly #idle: (() => void)[] = [];

  /**
   * `send` runs the statement outside any transaction (on a pool: each statement its own).
   * `onError` hears of a statement that failed, and how many notifications were lost with it.
   */
  constructor(send: SendNotices, onError: (error: unknown, lost: number) => void, options: NoticesOptions = {}) {
    this.#send = send;
    this.#onError = onError;
    this.#spacingMs = Math.max(0, options.spacingMs ?? 0);
    this.#now = options.now ?? (() => performance.now());
  }

  /** Sends `pg_notify(channel, payload)` for each payload, soon, gathered with the others. */
  add(channel: string, payloads: Iterable<string>): void {
    let pending = this.#pending.get(channel);
    for (const payload of payloads) {
      if (!pending) this.#pending.set(channel, (pending = new Set()));
      pending.add(payload);
    }
    if (pending !== undefined && pending.size > 0) this.#flushing ??= this.#flush();
  }

  /**
   * Sends `pg_notify(channel, '<topic>:<id>,<id>…')` naming each of `ids`, soon, joined with the
   * ids added to the same channel and topic meanwhile: each id once, at most `perPayload` a
   * payload (PostgreSQL takes payloads under 8,000 bytes). For listeners that take a payload's
   * ids one by one, whatever else it names.
   */
  addIds(channel: string, topic: string, ids: Iterable<string>, perPayload: number): void {
    const key = `${channel}\n${topic}`;
    let pending = this.#pendingIds.get(key);
    for (const id of ids) {
      if (!pending) this.#pendingIds.set(key, (pending = { channel, topic, perPayload: Math.max(1, perPayload), ids: new Set() }));
      pending.ids.add(id);
    }
    if (pending !== undefined && pending.ids.size > 0) this.#flushing ??= this.#flush();
  }

  /** Resolves once nothing is pending or in flight (what was added before has been sent, or has failed). */
  settled(): Promise<void> {
    if (this.#flushing === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #flush(): Promise<void> {
    // What the writes of this turn of the event loop add goes in the same statement.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.size > 0 || this.#pendingIds.size > 0) {
      // What comes until the spacing is over goes in this statement too.
      const wait = this.#sentAt + this.#spacingMs - this.#now();
      if (wait > 0) await new Promise<void>((resolve) => setTimeout(resolve, wait));
      const channels: string[] = [];
      const payloads: string[] = [];
      for (const [key, pending] of this.#pendingIds) {
        let joined: string[] = [];
        for (const id of pending.ids) {
          if (joined.length === 0 && payloads.length === MAX_A_STATEMENT) break;
          joined.push(id);
          pending.ids.delete(id);
          if (joined.length === pending.perPayload) {
            channels.push(pending.channel);
            payloads.push(`${pending.topic}:${joined.join(',')}`);
            joined = [];
          }
        }
        if (joined.length > 0) {
          channels.push(pending.channel);
          payloads.push(`${pending.topic}:${joined.join(',')}`);
        }
        if (pending.ids.size === 0) this.#pendingIds.delete(key);
        if (payloads.length === MAX_A_STATEMENT) break;
      }
      for (const [channel, pending] of this.#pending) {
        if (payloads.length === MAX_A_STATEMENT) break;
        for (const payload of pending) {
          if (payloads.length === MAX_A_STATEMENT) break;
          channels.push(channel);
          payloads.push(payload);
          pending.delete(payload);
        }
        if (pending.size === 0) this.#pending.delete(channel);
      }
      this.#sentAt = this.#now();
      try {
        await this.#send(NOTICES_SQL, [channels, payloads]);
      } catch (error) {
        this.#onError(error, payloads.length);
      }
    }
    this.#flushing = undefined;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}

/**
 * The channel's notifications for `payloads`, once the write made through `db` has committed:
 * - `db` is a pool (not a unit of work): its statement has already committed; sent through
 *   `notices`, gathered;
 * - a unit of work whose commit we see (`afterCommit`): sent through `notices` once it commits
 *   (never if it rolls back);
 * - a unit of work whose commit is not ours to see (a job's, which pg-boss commits): sent inside
 *   it, delivered by PostgreSQL at its commit, as before.
 */
export async function notifyOnCommit(notices: Notices, db: WrittenThrough, channel: string, payloads: readonly string[]): Promise<void> {
  if (payloads.length === 0) return;
  const uow = db as WrittenThrough & { transaction?: unknown };
  if (uow.transaction !== true) notices.add(channel, payloads);
  else if (uow.afterCommit) uow.afterCommit(() => notices.add(channel, payloads));
  else await db.query(NOTICES_SQL, [payloads.map(() => channel), [...payloads]]);
}

/**
 * `notifyOnCommit` for ids on a topic (`Notices.addIds`): `pg_notify(channel, '<topic>:<id>,…')`
 * naming each of `ids` once the write made through `db` has committed, joined with other writes'
 * ids when sent through `notices`; inside a job's unit of work, in payloads of at most
 * `perPayload` ids.
 */
export async function notifyIdsOnCommit(notices: Notices, db: WrittenThrough, channel: string, topic: string, ids: readonly string[], perPayload: number): Promise<void> {
  if (ids.length === 0) return;
  const uow = db as WrittenThrough & { transaction?: unknown };
  if (uow.transaction !== true) notices.addIds(channel, topic, ids, perPayload);
  else if (uow.afterCommit) uow.afterCommit(() => notices.addIds(channel, topic, ids, perPayload));
  else {
    const payloads = idPayloads(topic, ids, perPayload);
    await db.query(NOTICES_SQL, [payloads.map(() => channel), payloads]);
  }
}

/** `<topic>:<id>,<id>…` for each of `ids` once, at most `perPayload` a payload. */
export function idPayloads(topic: string, ids: Iterable<string>, perPayload: number): string[] {
  const unique = [...new Set(ids)];
  const size = Math.max(1, perPayload);
  const payloads: string[] = [];
  for (let at = 0; at < unique.length; at += size) payloads.push(`${topic}:${unique.slice(at, at + size).join(',')}`);
  return payloads;
}
