// The cap on open streams per account, across instances: an account has `cap` slots, each a
// session-level advisory lock that an instance takes on its listening connection
// (invalidations.ts) for as long as one of its streams holds the slot. PostgreSQL frees the locks
// of an instance that dies with its connection. While that connection is down (or does not
// answer in time) the cap is enforced per instance only, rather than refusing every stream.
import type { InvalidationListener } from './invalidations.ts';

/** A slot held by one stream; `release` gives it back (once). */
export interface StreamSlot {
  release(): void;
}

const LOCK_TIMEOUT_MS = 2000;

export class StreamSlots {
  readonly #listener: InvalidationListener;
  readonly #cap: number;
  /** Streams open on this instance, by account. */
  readonly #local = new Map<string, number>();
  /**
   * The slots this instance holds, by account. A session-level advisory lock is re-entrant: asked
   * again on the connection that holds it, it is granted again, so a slot held here is never asked for.
   */
  readonly #held = new Map<string, Set<number>>();

  constructor(listener: InvalidationListener, cap: number) {
    this.#listener = listener;
    this.#cap = cap;
  }

  /** A slot of the account's, or undefined when all `cap` of them are taken (here or on another instance). */
  async acquire(accountId: string): Promise<StreamSlot | undefined> {
    const open = this.#local.get(accountId) ?? 0;
    if (open >= this.#cap) return undefined;
    // Counted before the lock is asked for, so that concurrent requests here cannot overshoot.
    this.#local.set(accountId, open + 1);
    let lock: { key: string; slot: number; connection: number } | undefined;
    try {
      const result = await this.#tryLock(accountId);
      if (result === null) {
        this.#forget(accountId);
        return undefined;
      }
      lock = result;
    } catch (error) {
      this.#forget(accountId);
      throw error;
    }
    if (lock) this.#hold(accountId, lock.slot, true);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#forget(accountId);
        if (lock) this.#hold(accountId, lock.slot, false);
        // A lock taken on a connection since replaced went with it.
        if (lock && lock.connection === this.#listener.connection) {
          this.#listener.query('select pg_advisory_unlock($1::bigint)', [lock.key]).catch(() => {});
        }
      },
    };
  }

  /** The lock of a free slot; null when every slot is locked; undefined when the listener cannot tell. */
  async #tryLock(accountId: string): Promise<{ key: string; slot: number; connection: number } | null | undefined> {
    const held = this.#held.get(accountId) ?? new Set<number>();
    const free = Array.from({ length: this.#cap }, (_, slot) => slot).filter((slot) => !held.has(slot));
    // The executor stops at the first slot it locks (LIMIT 1 pulls one row at a time).
    const locking = this.#listener.query<{ key: string; slot: number }>(
      `select k::text as key, s as slot from unnest($2::int[]) s,
         lateral (select hashtextextended('agora.stream:' || $1 || ':' || s, 0) as k) slot
        where pg_try_advisory_lock(k) limit 1`,
      [accountId, free],
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), LOCK_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([locking.catch(() => undefined), late]);
      if (result === 'late') {
        // If it does answer later, a lock it took is given back.
        void locking.then((r) => r?.rows[0] && this.#listener.query('select pg_advisory_unlock($1::bigint)', [r.rows[0].key])).catch(() => {});
        return undefined;
      }
      if (!result) return undefined;
      const row = result.rows[0];
      return row ? { key: row.key, slot: row.slot, connection: result.connection } : null;
    } finally {
      clearTimeout(timer);
    }
  }

  #hold(accountId: string, slot: number, held: boolean): void {
    const slots = this.#held.get(accountId) ?? new Set<number>();
    if (held) slots.add(slot);
    else slots.delete(slot);
    if (slots.size > 0) this.#held.set(accountId, slots);
    else this.#held.delete(accountId);
  }

  #forget(accountId: string): void {
    const open = (this.#local.get(accountId) ?? 1) - 1;
    if (open > 0) this.#local.set(accountId, open);
    else this.#local.delete(accountId);
  }
}
