// Cache invalidation across instances: one dedicated connection per instance LISTENs on
// `agora_invalidate`, where triggers announce, at commit, the ids of sessions that stopped
// being usable ("s:<ids>") and of accounts whose summary changed or that were closed
// ("a:<ids>") (migration 20261124000000), and of channels that changed or went ("c:<ids>",
// migration 20261124020000). "y:<token>" is `sync`'s own echo. Caches may serve entries only while this connection is up:
// when it drops, every cache is emptied and bypassed until it is back (a notification missed
// while it was down can never be replayed), and it reconnects with backoff.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { silentLog, type Log } from '../log.ts';

export const INVALIDATION_CHANNEL = 'agora_invalidate';

export interface ListenerOptions {
  clientUrl: string;
  log?: Log;
  connectTimeoutMs?: number;
  /** Told whenever the connection comes up (true) or goes down (false). */
  onLiveChange?: (live: boolean) => void;
}

const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

/** Satisfies the services' `InvalidationSource` (src/services/cache.ts). */
export class InvalidationListener {
  readonly #options: ListenerOptions;
  readonly #log: Log;
  readonly #listeners = new Map<string, ((ids: string[]) => void)[]>();
  readonly #resets: (() => void)[] = [];
  readonly #syncs = new Map<string, () => void>();
  #client: pg.Client | undefined;
  #live = false;
  #closed = false;
  #retryMs = MIN_RETRY_MS;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLog;
  }

  /** True while notifications are being received: only then may a cache serve what it holds. */
  get live(): boolean {
    return this.#live;
  }

  /** Calls `listener` with the ids of each notification on `topic` ("s" sessions, "a" accounts, "c" channels). */
  on(topic: string, listener: (ids: string[]) => void): void {
    const list = this.#listeners.get(topic) ?? [];
    list.push(listener);
    this.#listeners.set(topic, list);
  }

  /** Calls `listener` whenever notifications may have been missed (the connection dropped or came up). */
  onReset(listener: () => void): void {
    this.#resets.push(listener);
  }

  /** Connects and listens; resolves once listening, or once the first attempt failed (it then keeps retrying). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /**
   * Resolves once this instance has received every notification committed before the call
   * (notifications arrive in commit order, and this one commits after them). False when the
   * listener is down or the echo does not come back within `timeoutMs`.
   */
  async sync(timeoutMs = 2000): Promise<boolean> {
    const client = this.#client;
    if (!client || !this.#live) return false;
    const token = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const echoed = new Promise<boolean>((resolve) => {
      this.#syncs.set(token, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      await client.query('select pg_notify($1, $2)', [INVALIDATION_CHANNEL, `y:${token}`]);
      return await echoed;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      this.#syncs.delete(token);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
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
    client.on('notification', (message) => this.#receive(message.payload ?? ''));
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    try {
      await client.connect();
      await client.query(`listen ${INVALIDATION_CHANNEL}`);
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
    this.#retryMs = MIN_RETRY_MS;
    // Anything cached before this moment may have missed a notification.
    this.#reset();
    this.#live = true;
    this.#options.onLiveChange?.(true);
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
    for (const listener of this.#resets) listener();
  }

  #receive(payload: string): void {
    const colon = payload.indexOf(':');
    if (colon < 0) return;
    const topic = payload.slice(0, colon);
    const rest = payload.slice(colon + 1);
    if (topic === 'y') {
      this.#syncs.get(rest)?.();
      return;
    }
    const ids = rest.split(',');
    for (const listener of this.#listeners.get(topic) ?? []) listener(ids);
  }
}
