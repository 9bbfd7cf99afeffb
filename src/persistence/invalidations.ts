// Cache invalidation across instances: one dedicated connection per instance LISTENs on
// `agora_invalidate`, where triggers announce, at commit, the ids of sessions that stopped
// being usable ("s:<ids>") and of accounts whose summary changed or that were closed
// ("a:<ids>") (migration 20261124000000), and of channels that changed or went ("c:<ids>",
// migration 20261124020000), and of idempotency records that changed or went ("i:<ids>",
// migration 20261202140000). "y:<token>" is the echo of one of this listener's own probes:
// sent every quarter of the staleness bound (and by `sync`), each one that comes back moves the
// watermark (src/persistence/watermark.ts), and caches serve entries only while it is within
// the bound. When the connection drops, every cache is emptied and bypassed until it is back
// and a probe has come back on it (a notification missed while it was down can never be
// replayed), and it reconnects with backoff.
//
// The same connection carries the live streams' wake-ups ("w:<account ids>", sent by the writes
// that add a row to a stream source, see stream-rows.ts) and holds the stream slots'
// session-level advisory locks (stream-slots.ts), which PostgreSQL frees with the connection. It
// also sends the notifications an instance sends after its commits (notices.ts, through `query`),
// so that they never queue behind the requests for one of the pool's connections.
// Other channels may be subscribed to on it (`subscribe`: the job queue's wake-ups, when
// DATABASE_DIRECT_URL is set), so that one instance holds one session-bound connection.
//
// All of it needs a session of its own: behind a pooler in transaction mode (PgBouncer), a LISTEN
// is registered on whichever server connection ran it and never reaches this client, and a
// session lock stays on a connection that other clients then use. So this connection goes to
// DATABASE_DIRECT_URL when set. Each time it connects (start awaits the first), a probe is sent
// from another connection while this one sends nothing (a statement of its own in flight could,
// through the pooler, run on the server connection holding the LISTEN and be handed the probe's
// notification). Until that probe is back the connection is not trusted: caches are bypassed,
// no session-level lock or notice goes on it and its own probes are not sent (through a pooler
// they come back on the server connection they ran on). A probe that never comes back (the sign
// of such a pooler) is logged as an error that names the setting; a check that could not be
// made (no second connection) as a warning. Either way it is tried again every 10 s, and the
// connection is trusted once one comes back (the first may just have been slow).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { silentLog, type Log } from '../log.ts';
import { Watermark } from './watermark.ts';

export const INVALIDATION_CHANNEL = 'agora_invalidate';
/** The topic of the listener's own probes: no domain's cache may take it (src/domains/compose.ts). */
export const PROBE_TOPIC = 'y';

export interface ListenerOptions {
  clientUrl: string;
  log?: Log;
  connectTimeoutMs?: number;
  /** Told whenever the connection comes up (true) or goes down (false). */
  onLiveChange?: (live: boolean) => void;
  /** Caches serve nothing while a change committed longer ago may not have been applied here. */
  maxStalenessMs?: number;
}

export const DEFAULT_MAX_STALENESS_MS = 1000;
/** A probe: a NOTIFY of this listener's channel, which also reads the database's clock (ms since the epoch, for `clockOffsetMs`). */
const PROBE = 'select pg_notify($1, $2), extract(epoch from clock_timestamp()) * 1000 as now';
/** A probe's reading of the clock counts only if its round trip took less than this. */
const CLOCK_READING_MAX_RTT_MS = 1000;
/** Probes in flight at once, so that a stalled connection does not pile them up. */
const MAX_PROBES_IN_FLIGHT = 2;

const MIN_RETRY_MS = 250;
/** How often a deaf listener tries the probe from another connection again. */
const RECHECK_MS = 10_000;
const MAX_RETRY_MS = 30_000;

/** How a probe ended (see `#probe`). */
type ProbeOutcome = 'back' | 'lost' | 'failed';
/** How a check from another connection ended (see `#crossCheck`): 'unchecked' when it could not be made. */
type CheckOutcome = 'echoed' | 'silent' | 'unchecked';

/** `work`'s value, or `fallback` once `ms` have passed first. */
function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** Satisfies the services' `InvalidationSource` (src/services/cache.ts). */
export class InvalidationListener {
  readonly #options: ListenerOptions;
  readonly #log: Log;
  readonly #listeners = new Map<string, ((ids: string[]) => void)[]>();
  readonly #resets: (() => void)[] = [];
  readonly #watermark: Watermark;
  /** Probes sent and not yet back, by token: when each was sent, and what to tell when it is back. */
  readonly #probes = new Map<string, { sentAt: number; settle: (outcome: ProbeOutcome) => void }>();
  #probeTimer: NodeJS.Timeout | undefined;
  #clockOffsetMs: number | undefined;
  #client: pg.Client | undefined;
  #live = false;
  #closed = false;
  #retryMs = MIN_RETRY_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Counts the connections made: a session-level lock taken on one is gone with it. */
  #generation = 0;
  /**
   * Whether the listening connection hears notifications sent from other connections: undefined
   * until the check made since it connected is back, false when that check's probe never came
   * back or could not be sent. Only while true is the connection trusted (see the top).
   */
  #hears: boolean | undefined;
  /** The connection a check is being made for, and when a check was last started. */
  #checking: pg.Client | undefined;
  #checked: Promise<void> = Promise.resolve();
  #lastCheck = 0;
  /** What was last logged about the checks, so that each state is logged once. */
  #reported: CheckOutcome | undefined;
  /**
   * The last statement sent on the listening connection (see `#send`), and that connection: the
   * next waits for it.
   */
  #tail: { client: pg.Client; done: Promise<unknown> } | undefined;
  /** Channels subscribed to besides the invalidations' own (see `subscribe`). */
  readonly #channels = new Map<string, { onNotification: (payload: string) => void; onReconnect: () => void }>();

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLog;
    this.#watermark = new Watermark(options.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS);
  }

  /** True while the connection is up and listening. */
  get live(): boolean {
    return this.#live;
  }

  /**
   * True while every invalidation committed more than `maxStalenessMs` ago is known to have been
   * applied here: only then may a cache serve what it holds.
   */
  get fresh(): boolean {
    return this.#live && this.#hears === true && this.#watermark.fresh;
  }

  /**
   * How far the database's clock is ahead of this instance's wall clock (ms; negative: behind),
   * from the latest probe whose round trip was short: the database's reading against the middle
   * of the round trip, so off by at most half of it. Undefined until a probe has measured it.
   * Read by the feed's freshness (services/timelines) and `agora_db_clock_offset_seconds`.
   */
  get clockOffsetMs(): number | undefined {
    return this.#clockOffsetMs;
  }

  /** Seconds since the latest moment up to which every invalidation is known to have been applied. */
  get lagSeconds(): number {
    return this.#watermark.lagSeconds;
  }

  /**
   * Runs one statement on the listening connection (for session-level advisory locks, which live
   * as long as it does, and the notifications sent after commits, which no request should delay);
   * undefined while it is down. `connection` names the connection it ran on.
   */
  async query<T extends Record<string, unknown>>(text: string, params: unknown[]): Promise<{ rows: T[]; connection: number } | undefined> {
    const client = this.#client;
    // Not on a pooler's connection: a session lock would stay behind on a server connection that
    // other clients share.
    if (!client || !this.#live || this.#hears !== true) return undefined;
    const connection = this.#generation;
    const { rows } = await this.#send<T>(client, text, params);
    return { rows, connection };
  }

  /** The connection `query` runs on now (see `query`); it changes whenever the connection is replaced. */
  get connection(): number {
    return this.#generation;
  }

  /** Calls `listener` with the ids of each notification on `topic` (each domain declares its topics: src/domains/; "w" is the live streams' wake-ups). */
  on(topic: string, listener: (ids: string[]) => void): void {
    const list = this.#listeners.get(topic) ?? [];
    list.push(listener);
    this.#listeners.set(topic, list);
  }

  /**
   * LISTENs on `channel` too, on this connection (and again on each one that replaces it, calling
   * `onReconnect` then, since notifications may have been missed meanwhile). The shape of
   * pg-boss's `listen` (src/jobs/queue.ts).
   */
  async subscribe(channel: string, onNotification: (payload: string) => void, onReconnect: () => void): Promise<{ close(): Promise<void> }> {
    if (channel === INVALIDATION_CHANNEL) throw new Error(`${channel} is the invalidations' own channel`);
    const entry = { onNotification, onReconnect };
    this.#channels.set(channel, entry);
    const client = this.#client;
    if (client && this.#live) await this.#send(client, `listen ${pg.escapeIdentifier(channel)}`);
    return {
      close: async () => {
        if (this.#channels.get(channel) !== entry) return;
        this.#channels.delete(channel);
        const current = this.#client;
        if (current && this.#live) await this.#send(current, `unlisten ${pg.escapeIdentifier(channel)}`).catch(() => {});
      },
    };
  }

  /** Calls `listener` whenever notifications may have been missed (the connection dropped or came up). */
  onReset(listener: () => void): void {
    this.#resets.push(listener);
  }

  /**
   * Connects and listens; resolves once listening and the check's probe from another connection
   * is back (so that caches serve from the first request), or once that check or the first
   * attempt to connect failed (it then keeps trying).
   */
  async start(): Promise<void> {
    await this.#connect();
    await this.#checked;
    if (this.#closed) return;
    const interval = Math.max(1, Math.floor(this.#watermark.maxStalenessMs / 4));
    this.#probeTimer = setInterval(() => this.#ping(), interval);
    this.#probeTimer.unref();
  }

  /**
   * Resolves once this instance has received every notification committed before the call
   * (notifications arrive in commit order, and this one commits after them). False when the
   * listener is down or the echo does not come back within `timeoutMs`.
   */
  async sync(timeoutMs = 2000): Promise<boolean> {
    const client = this.#client;
    if (!client || !this.#live || this.#hears !== true) return false;
    return (await this.#probe(client, timeoutMs)) === 'back';
  }

  /**
   * Checks that the listening connection hears a notification sent from another connection (see
   * the top), unless a check for it is under way; `#checked` settles when it is done.
   */
  #check(): Promise<void> {
    const listening = this.#client;
    if (!listening || !this.#live || this.#checking === listening) return this.#checked;
    this.#checking = listening;
    this.#lastCheck = performance.now();
    this.#checked = this.#crossCheck(listening, this.#options.connectTimeoutMs ?? 5000).then((outcome) => {
      if (this.#checking === listening) this.#checking = undefined;
      // A connection since replaced has its own check.
      if (this.#closed || this.#client !== listening) return;
      this.#settle(outcome);
    });
    return this.#checked;
  }

  #settle(outcome: CheckOutcome): void {
    const reported = this.#reported;
    this.#hears = outcome === 'echoed';
    if (outcome === 'echoed') {
      this.#reported = undefined;
      if (reported) this.#log.info({}, 'the cache invalidation listener now receives notifications from other connections; caches are used again');
      this.#ping();
      return;
    }
    // A probe that never came back is the finding; a later check that cannot be made does not take it back.
    if (reported === 'silent' || reported === outcome) return;
    this.#reported = outcome;
    if (outcome === 'silent') {
      // Connected and listening, yet a notification from another connection never came: the
      // LISTEN ran on a pooler's server connection (transaction mode), not on a session of its own.
      this.#log.error(
        {},
        'the cache invalidation listener does not receive its own notifications: its connection is probably a pooler in transaction mode (PgBouncer); set DATABASE_DIRECT_URL to a direct connection to PostgreSQL. Until it does, caches are bypassed, live streams are not woken across instances and their cap is counted per instance',
      );
    } else {
      this.#log.warn(
        {},
        `the cache invalidation listener could not check that it receives notifications from other connections (no second connection to the database, or no answer, within ${this.#options.connectTimeoutMs ?? 5000} ms); caches are bypassed until a check succeeds (tried every ${RECHECK_MS / 1000} s)`,
      );
    }
  }

  /**
   * Sends a probe from a connection of its own and tells whether it came back to `listening`
   * within `timeoutMs`. `listening` sends nothing meanwhile: statements asked of it wait for the
   * check (`#send`), after the one already in flight, if any, is done.
   */
  async #crossCheck(listening: pg.Client, timeoutMs: number): Promise<CheckOutcome> {
    // One deadline for the connection, the statement in flight and the echo together.
    const deadline = performance.now() + timeoutMs;
    const left = () => Math.max(1, deadline - performance.now());
    const inFlight = this.#tail?.client === listening ? this.#tail.done : undefined;
    let release!: () => void;
    this.#tail = { client: listening, done: new Promise<void>((resolve) => (release = resolve)) };
    const sender = new pg.Client({ connectionString: this.#options.clientUrl, connectionTimeoutMillis: timeoutMs, application_name: 'agora-invalidations-check' });
    sender.on('error', () => {});
    try {
      const ready = Promise.all([sender.connect(), inFlight]).then(() => true, () => false);
      if (!(await within(ready, left(), false))) return 'unchecked';
      const probe = await this.#probe(sender, left());
      return probe === 'back' ? 'echoed' : probe === 'failed' ? 'unchecked' : 'silent';
    } finally {
      release();
      await sender.end().catch(() => {});
    }
  }

  /** While the connection is not trusted: the check again, every RECHECK_MS. */
  #recheck(): void {
    if (this.#checking || !this.#live || performance.now() - this.#lastCheck < RECHECK_MS) return;
    void this.#check();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#probeTimer);
    const client = this.#client;
    this.#setDown();
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#options.clientUrl,
      connectionTimeoutMillis: this.#options.connectTimeoutMs ?? 5000,
      application_name: 'agora-invalidations',
    });
    client.on('notification', (message) => {
      if (message.channel === INVALIDATION_CHANNEL) this.#receive(message.payload ?? '');
      else this.#channels.get(message.channel)?.onNotification(message.payload ?? '');
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    try {
      await client.connect();
      await client.query(`listen ${INVALIDATION_CHANNEL}`);
      for (const channel of this.#channels.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      client.end().catch(() => {});
      this.#log.warn({ err: error }, 'cache invalidation listener could not connect; caches are bypassed until it does');
      this.#scheduleRetry();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#hears = undefined;
    this.#generation += 1;
    this.#retryMs = MIN_RETRY_MS;
    // Anything cached before this moment may have missed a notification.
    this.#reset();
    this.#live = true;
    this.#options.onLiveChange?.(true);
    for (const { onReconnect } of this.#channels.values()) onReconnect();
    // Its probes start once the check is back (#settle).
    void this.#check();
  }

  #lost(client: pg.Client, error: Error | undefined): void {
    if (this.#client !== client) return;
    this.#setDown();
    client.end().catch(() => {});
    if (this.#closed) return;
    this.#log.warn({ err: error }, 'cache invalidation listener lost its connection; caches are bypassed until it is back');
    this.#scheduleRetry();
  }

  #setDown(): void {
    this.#client = undefined;
    const wasLive = this.#live;
    this.#live = false;
    this.#reset();
    if (wasLive) this.#options.onLiveChange?.(false);
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#connect(), this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }

  #reset(): void {
    // What the watermark said was about the connection now gone; probes sent on it never return.
    this.#watermark.reset();
    for (const probe of this.#probes.values()) probe.settle('lost');
    this.#probes.clear();
    for (const listener of this.#resets) listener();
  }

  /** The periodic probe that keeps the watermark moving, unless enough are in flight already. */
  #ping(): void {
    const client = this.#client;
    // An untrusted listener's own probes may come back through a pooler's reused server
    // connection, while other instances' notifications do not: they would make its lag look fine.
    // It tries the probe from another connection again now and then instead.
    if (this.#hears !== true) return this.#recheck();
    if (!client || !this.#live || this.#probes.size >= MAX_PROBES_IN_FLIGHT) return;
    void this.#probe(client);
  }

  /**
   * Notifies this listener's own channel: 'back' once the echo is here (then everything committed
   * before it was sent has been applied here), 'lost' if the listening connection went first or
   * `timeoutMs` passed, 'failed' if the statement itself failed on `sender`.
   */
  #probe(sender: pg.Client, timeoutMs?: number): Promise<ProbeOutcome> {
    const token = randomUUID();
    // Taken before the query is sent: the probe commits after it.
    const sentAt = this.#watermark.now();
    let timer: NodeJS.Timeout | undefined;
    const back = new Promise<ProbeOutcome>((resolve) =>
      this.#probes.set(token, {
        sentAt,
        settle: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      }),
    );
    const forget = (outcome: ProbeOutcome) => {
      this.#probes.get(token)?.settle(outcome);
      this.#probes.delete(token);
    };
    // Not left in the map once given up: probes in flight hold back the periodic ones.
    if (timeoutMs !== undefined) timer = setTimeout(() => forget('lost'), timeoutMs);
    const params = [INVALIDATION_CHANNEL, `${PROBE_TOPIC}:${token}`];
    // Taken before the statement is passed to pg, so that the database's reading falls between
    // it and the answer; #send may queue the statement behind another, which the round-trip
    // bound below then leaves out.
    const sentWall = Date.now();
    const sent = sender === this.#client ? this.#send<{ now: string }>(sender, PROBE, params) : sender.query<{ now: string }>(PROBE, params);
    sent.then(
      (result) => {
        const receivedWall = Date.now();
        const databaseNow = Number(result.rows[0]?.now);
        if (Number.isFinite(databaseNow) && receivedWall - sentWall < CLOCK_READING_MAX_RTT_MS) {
          this.#clockOffsetMs = databaseNow - (sentWall + receivedWall) / 2;
        }
      },
      () => forget('failed'),
    );
    return back;
  }

  /**
   * Sends a statement on the listening connection once the one sent before it is done. Probes
   * (periodic, and one per `sync`, which concurrent requests call), session locks and LISTENs
   * share the connection. pg queued them itself, but queueing a query behind another is
   * deprecated (pg 8.23 warns) and goes in pg 9.
   */
  #send<T extends Record<string, unknown>>(client: pg.Client, text: string, params?: unknown[]): Promise<pg.QueryResult<T>> {
    const before = this.#tail?.client === client ? this.#tail.done : undefined;
    const result = before ? before.then(() => client.query<T>(text, params)) : client.query<T>(text, params);
    this.#tail = { client, done: result.catch(() => {}) };
    return result;
  }

  #receive(payload: string): void {
    const colon = payload.indexOf(':');
    if (colon < 0) return;
    const topic = payload.slice(0, colon);
    const rest = payload.slice(colon + 1);
    if (topic === PROBE_TOPIC) {
      const probe = this.#probes.get(rest);
      if (!probe) return; // another instance's, or one sent on a connection since replaced
      this.#probes.delete(rest);
      this.#watermark.advance(probe.sentAt);
      probe.settle('back');
      return;
    }
    const ids = rest.split(',');
    for (const listener of this.#listeners.get(topic) ?? []) listener(ids);
  }
}
