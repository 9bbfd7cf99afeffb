// The Redis server (REDIS_URL) that every instance counts its rate limits in, so that N instances
// allow one budget, not N. It is never allowed to stand between a client and an answer: a check
// it cannot answer at once lets the request through unchecked (fail open). So the client has no
// offline queue (a command sent while disconnected fails at once instead of waiting), no
// retries per command, and a command deadline; it reconnects in the background. An outage is
// logged twice, at warn: when it begins (with the error that revealed it) and when it ends (with
// `outageMs`); while it lasts the checks are skipped without trying, and a probe every
// PROBE_INTERVAL_MS notices a server that is connected but did not answer coming back. The probe
// is a write, as the checks are, not a PING: a server that answers PING but refuses writes
// (out of memory, a read-only replica, an ACL without the limiter's commands) stays out, where
// PING took it for back and the next check for down again, twice a second, each logged.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Log } from '../log.ts';

/** The longest a connection attempt waits before the next one. */
const CONNECT_TIMEOUT_MS = 2000;
/**
 * The longest a check waits for Redis's answer before the request goes through unchecked. Well
 * above a healthy round trip even on a busy machine: a spurious timeout opens the limits.
 */
const COMMAND_TIMEOUT_MS = 1000;
/** Reconnection backoff: 100 ms, 200 ms, … up to this. */
const MAX_RECONNECT_DELAY_MS = 1000;
/** How often a connected server that stopped answering is probed during an outage. */
const PROBE_INTERVAL_MS = 500;
/** How long the probe's key lives: it only has to be written. */
const PROBE_TTL_MS = 5000;

export interface RateLimitStoreOptions {
  /** redis:// or rediss:// (validated by the config). */
  url: string;
  /** The prefix of the limits' keys: the outage probe writes one of its own under it (so an ACL on the prefix allows it). */
  keyPrefix: string;
  log: Log;
  /** Told when the store becomes available (true) and when an outage begins (false). */
  onChange?: (available: boolean) => void;
  /** Told of each check the store did not answer: its request went through unchecked. */
  onUnchecked?: () => void;
}

export class SharedRateLimitStore {
  /** The client @fastify/rate-limit's Redis store counts with. */
  readonly redis: Redis;
  readonly #options: RateLimitStoreOptions;
  /** `connecting` until the first connection (or its failure), then `up` or `down`. */
  #state: 'connecting' | 'up' | 'down' = 'connecting';
  #outageStarted = 0;
  #probe: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  /** What the outage probe writes: this process's own key. */
  readonly #probeKey: string;
  /** Ends `start`'s wait (a close does not wait for the first connection). */
  #started: (() => void) | undefined;

  constructor(options: RateLimitStoreOptions) {
    this.#options = options;
    this.#probeKey = `${options.keyPrefix}probe:${hostname()}:${process.pid}`;
    this.redis = new Redis(options.url, {
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
      // Connects in `start`, once the server's logger takes the lines.
      lazyConnect: true,
      // Which instance holds a connection, in Redis's CLIENT LIST.
      connectionName: `agora-rate-limit:${hostname()}:${process.pid}`,
    });
    // Each failed reconnection emits an error: only the first of an outage is logged.
    this.redis.on('error', (error: Error) => this.#down(error));
    this.redis.on('close', () => this.#down(new Error('connection closed')));
    this.redis.on('ready', () => this.#up());
  }

  /** True while checks are sent to Redis; false during an outage (and before the first connection). */
  get available(): boolean {
    return this.#state === 'up';
  }

  /**
   * Waits for the first connection, at most CONNECT_TIMEOUT_MS, so that the limits hold from the
   * first request; never fails: a server unreachable at start-up is an outage like any other.
   */
  async start(): Promise<void> {
    if (this.#state !== 'connecting' || this.#closed) return;
    // A failed first attempt is reported by the 'error' event, and retried like any reconnection.
    this.redis.connect().catch(() => {});
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        this.redis.off('error', done);
        this.#started = undefined;
        resolve();
      };
      this.#started = done;
      const timer = setTimeout(() => {
        this.#down(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`));
        done();
      }, CONNECT_TIMEOUT_MS);
      this.redis.once('ready', done);
      this.redis.once('error', done);
    });
  }

  /**
   * Runs one check against the store. During an outage, or when the check fails, answers
   * undefined at once: the caller lets the request through unchecked.
   */
  async check<T>(run: () => Promise<T>): Promise<T | undefined> {
    if (this.#state !== 'up') {
      this.#options.onUnchecked?.();
      return undefined;
    }
    try {
      return await run();
    } catch (error) {
      this.#options.onUnchecked?.();
      this.#down(error);
      return undefined;
    }
  }

  /** Disconnects at once: the counts live in Redis, nothing is lost by not saying goodbye. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#probe);
    this.redis.disconnect();
    this.#started?.();
  }

  #up(): void {
    clearInterval(this.#probe);
    this.#probe = undefined;
    const previous = this.#state;
    if (this.#closed || previous === 'up') return;
    this.#state = 'up';
    if (previous === 'down') {
      this.#options.log.warn({ outageMs: Date.now() - this.#outageStarted }, 'the rate-limit store answers again: limits are shared again');
    }
    this.#options.onChange?.(true);
  }

  #down(error: unknown): void {
    if (this.#closed || this.#state === 'down') return;
    this.#state = 'down';
    this.#outageStarted = Date.now();
    this.#options.log.warn({ err: error }, 'the rate-limit store is unavailable: requests are served without rate limits until it is back');
    this.#options.onChange?.(false);
    // A lost connection ends with 'ready' once ioredis has reconnected (and the probe confirms it
    // can write). A connection that stays open while the server stopped answering (a check timed
    // out, or was refused) gives no such sign: probe it.
    this.#probe = setInterval(() => void this.#probeOnce(), PROBE_INTERVAL_MS);
    this.#probe.unref();
  }

  async #probeOnce(): Promise<void> {
    if (this.#probing || this.redis.status !== 'ready') return;
    this.#probing = true;
    try {
      await this.redis.set(this.#probeKey, '1', 'PX', PROBE_TTL_MS);
      this.#up();
    } catch {
      // Still out; the next ping tries again.
    } finally {
      this.#probing = false;
    }
  }
}
