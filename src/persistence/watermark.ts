// How far behind an instance's cache invalidations may be, as something it can prove rather
// than hope. PostgreSQL delivers notifications to each listener in commit order, so when the
// listener's own probe, sent at time T, comes back, every change committed before T has been
// announced to this instance and applied (evictions run synchronously as each notification is
// received). `appliedUpTo` is the latest such T. A cache may serve an entry at time `now` only
// while appliedUpTo >= now - maxStalenessMs: a change committed longer ago than the bound is
// then certainly in effect here. A listener that lags (a busy event loop, a slow database, a
// stalled connection) stops its probes from coming back, and the caches are bypassed until it
// catches up: never an answer staler than the bound.
//
// Times are this process's monotonic clock (`performance.now()`), compared only with itself.

export class Watermark {
  readonly maxStalenessMs: number;
  readonly #now: () => number;
  /** Every change committed before this moment has been applied here (-Infinity: not known). */
  #appliedUpTo = -Infinity;
  /** The same, not forgotten when the connection drops: what the lag metric reports. */
  #lastAppliedUpTo: number;

  constructor(maxStalenessMs: number, now: () => number = () => performance.now()) {
    this.maxStalenessMs = maxStalenessMs;
    this.#now = now;
    this.#lastAppliedUpTo = now();
  }

  now(): number {
    return this.#now();
  }

  /** A probe sent at `sentAt` has come back: everything committed before it is applied. */
  advance(sentAt: number): void {
    if (sentAt > this.#appliedUpTo) this.#appliedUpTo = sentAt;
    if (sentAt > this.#lastAppliedUpTo) this.#lastAppliedUpTo = sentAt;
  }

  /** Notifications may have been missed (the connection dropped or was replaced): nothing is known. */
  reset(): void {
    this.#appliedUpTo = -Infinity;
  }

  /** True while every change committed more than `maxStalenessMs` ago is known to be applied. */
  get fresh(): boolean {
    return this.#appliedUpTo >= this.#now() - this.maxStalenessMs;
  }

  /** Seconds since the latest moment up to which everything is known to have been applied. */
  get lagSeconds(): number {
    return Math.max(0, this.#now() - this.#lastAppliedUpTo) / 1000;
  }
}
