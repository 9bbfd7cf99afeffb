// Whether the database is available, as the server acts on it: an outage begins when a statement
// or a connection gets no answer (lost, refused, or past DATABASE_QUERY_TIMEOUT_MS) and a probe
// of our own confirms it; it ends at the first answer, a probe's or a statement's. While it
// lasts, the HTTP layer refuses requests at once, and a probe runs every few hundred
// milliseconds so that service resumes as soon as the database is back. Each outage is logged
// twice, at warn: when it begins and when it ends.
import pg from 'pg';
import type { Log } from '../log.ts';
import { QueryDeadlineError } from './connection-failures.ts';
import type { QueryGuard } from './guarded-client.ts';

export interface AvailabilityOptions {
  /** Where the probes connect: the pool's database. */
  clientUrl: string;
  /** The longest a probe (connecting, then `select 1`) or a statement waits for an answer. */
  deadlineMs: number;
  /** How often the database is probed while it is available (to notice an idle outage). */
  checkIntervalMs: number;
  /** How often it is probed during an outage. */
  retryIntervalMs: number;
  log: Log;
  /** Told when an outage begins (false) and ends (true). */
  onChange?: (available: boolean) => void;
}

/** Connects afresh (not through the pool, which may be saturated) and runs `select 1`, within `deadlineMs`. */
export async function probeDatabase(clientUrl: string, deadlineMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: clientUrl, connectionTimeoutMillis: deadlineMs });
  client.on('error', () => {}); // the failure is the probe's outcome
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  }, deadlineMs);
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw expired ? new QueryDeadlineError(deadlineMs, error) : error;
  } finally {
    clearTimeout(timer);
    client.end().catch(() => {});
  }
}

export class DatabaseAvailability implements QueryGuard {
  readonly deadlineMs: number;
  readonly #options: AvailabilityOptions;
  #available = true;
  #outageStarted = 0;
  #probing: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AvailabilityOptions) {
    this.#options = options;
    this.deadlineMs = options.deadlineMs;
  }

  /** False during an outage. */
  get available(): boolean {
    return this.#available;
  }

  /** Starts the periodic probes. */
  start(): void {
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  onAnswer(): void {
    if (this.#available) return;
    this.#available = true;
    this.#options.log.warn({ outageMs: Date.now() - this.#outageStarted }, 'the database answers again: the outage is over');
    this.#options.onChange?.(true);
    this.#schedule();
  }

  onNoAnswer(): void {
    // Confirmed (or not) by a probe: a statement can outlive its deadline on a lock, say, while
    // the database answers everyone else.
    if (this.#available) void this.check();
  }

  /** Probes the database now (joining a probe under way); true when it answered. */
  check(): Promise<boolean> {
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = undefined;
      this.#schedule();
    });
    return this.#probing;
  }

  async #probe(): Promise<boolean> {
    try {
      await probeDatabase(this.#options.clientUrl, this.deadlineMs);
      this.onAnswer();
      return true;
    } catch (error) {
      if (this.#available && !this.#closed) {
        this.#available = false;
        this.#outageStarted = Date.now();
        this.#options.log.warn({ err: error }, 'the database is unavailable: requests are refused with 503 until it answers');
        this.#options.onChange?.(false);
      }
      return false;
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.check(), this.#available ? this.#options.checkIntervalMs : this.#options.retryIntervalMs);
    this.#timer.unref();
  }
}
