// At-most-once execution of keyed requests. A request's key, its fingerprint and its response
// are written in the same transaction as whatever the request itself writes, so that no
// failure can separate the data from its key. A retry of a finished request is one statement,
// in no transaction; a fresh request three round trips, in one transaction:
//
//   1. The lookup: a finished key (a committed record) answers the retry from the record,
//      and takes no lock (concurrent retries of a finished request never refuse each other);
//      without one, a key another request holds is refused at once (IdempotencyKeyInFlight),
//      before the request does any work.
//   2. The claim, sent with the BEGIN in front of the work's first write: the request takes the
//      key's lock, and another request holding it means the first is still running:
//      IdempotencyKeyInFlight (the claim's failure stops the write sent with it).
//   3. The record, sent with the COMMIT, which commits all of it. The record is a plain INSERT:
//      a record the first request committed between the lookup and the lock makes it fail,
//      everything rolls back, and the request is answered from that record.
//
// A retry this instance has already answered from a record is answered from memory: a finished
// record never changes (it only goes once expired, or is replaced after that), so the copy is
// served until the record's own expiry, and a trigger evicts it from every instance whenever a
// record is changed or deleted all the same (Migration20261202140000; served only while the
// invalidations are fresh, as every cache, src/services/cache.ts).
//
// A crash before the commit rolls everything back, key included: the retry runs afresh and
// creates once. A crash after it leaves both, and the retry gets the replay. The lock dies with
// the transaction, so a dead request holds its key for at most the configured lease.
import { hash } from 'node:crypto';
import type { IdempotencyStore, KeyId, StoredRecord } from '../../persistence/idempotency/index.ts';
import { InvalidatedCache, noCaching, stringBytes, type Caching } from '../cache.ts';
import { IdempotencyKeyInFlight, IdempotencyKeyReused } from '../errors.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import type { Execution, IdempotencySettings, KeyedRequest, RecordedResponse } from './model.ts';

/** Carries a response that must not be kept out of the transaction it rolls back. */
class Discarded extends Error {
  readonly response: RecordedResponse;
  constructor(response: RecordedResponse) {
    super('response not kept');
    this.response = response;
  }
}

// An in-flight request usually finishes within a second; retrying sooner only adds load.
const RETRY_AFTER_SECONDS = 1;

/** Larger responses are not kept in memory: their retries read the record. */
const MAX_CACHED_BODY_CHARS = 16 * 1024;

/**
 * What a kept record weighs in memory, estimated from above: 900 bytes for the record, its
 * objects and dates and its entry, 60 for each response header, and its strings (`stringBytes`:
 * the body, the headers, the key, its scope and operation, the fingerprint). Measured: 836
 * with an empty body.
 */
export function keptRecordBytes(record: StoredRecord): number {
  let bytes = 900 + stringBytes(record.key) + stringBytes(record.scope) + stringBytes(record.operation) + stringBytes(record.fingerprint) + stringBytes(record.response.body ?? '');
  for (const [name, value] of Object.entries(record.response.headers)) bytes += 60 + stringBytes(name) + stringBytes(value);
  return bytes;
}

/** A record's id in invalidations: as the trigger makes it (Migration20261202140000). */
export function recordId(id: KeyId): string {
  return hash('md5', `${id.scope}\n${id.operation}\n${id.key}`, 'hex');
}

export class IdempotencyService {
  readonly #store: IdempotencyStore;
  readonly #settings: IdempotencySettings;
  readonly #now: () => Date;
  /** Records this instance has replayed, by `recordId`. */
  readonly #replays: InvalidatedCache<StoredRecord>;

  constructor(store: IdempotencyStore, settings: IdempotencySettings, now: () => Date = () => new Date(), caching: Caching = noCaching) {
    this.#store = store;
    this.#settings = settings;
    this.#now = now;
    this.#replays = new InvalidatedCache(caching, {
      name: 'idempotency_replays',
      topic: 'i',
      weightOf: keptRecordBytes,
      maxWeight: settings.cacheBytes,
      maxEntries: settings.cacheEntries,
    });
  }

  /**
   * Runs `work` once for `request`'s key and returns its response, or returns the response of
   * the request that already ran with this key. `work` receives the unit of work the key's record
   * is saved in: whatever it writes must go through it, so that its data and the record commit
   * together (or not at all). `work` says whether its response is to be kept:
   * one that is not (a failure on the server's side) rolls back everything `work` wrote, and the
   * key stays free for a retry.
   *
   * Throws IdempotencyKeyReused when the key was used for another request, and
   * IdempotencyKeyInFlight while the first request with the key is still running.
   */
  async execute(request: KeyedRequest, work: (uow: UnitOfWork) => Promise<{ response: RecordedResponse; keep: boolean }>): Promise<Execution> {
    const id = { scope: request.scope, operation: request.operation, key: request.key };
    const recordKey = recordId(id);
    const now = this.#now();
    const held = this.#replays.get(recordKey);
    if (held && held.expiresAt > now) return replay(held, request);
    const stamp = this.#replays.stamp();
    const { record: earlier, busy } = await this.#store.lookup(id, now);
    if (busy) throw new IdempotencyKeyInFlight(RETRY_AFTER_SECONDS);
    if (earlier) {
      if ((earlier.response.body?.length ?? 0) <= MAX_CACHED_BODY_CHARS) this.#replays.set(recordKey, earlier, stamp);
      return replay(earlier, request);
    }
    let claimed;
    try {
      claimed = await this.#store.claim(id, this.#settings.lockSeconds, this.#now(), async (uow) => {
        const { response, keep } = await work(uow);
        if (!keep) throw new Discarded(response);
        const now = this.#now();
        this.#store.save({
          ...id,
          fingerprint: request.fingerprint,
          response,
          createdAt: now,
          expiresAt: new Date(now.getTime() + this.#settings.ttlSeconds * 1000),
        }, uow);
        return { response, replayed: false };
      });
    } catch (error) {
      if (error instanceof Discarded) return { response: error.response, replayed: false };
      if (!this.#store.isKeyTaken(error)) throw error;
      // The first request with this key committed after the lookup.
      const { record: committed } = await this.#store.lookup(id, this.#now());
      if (!committed) throw error;
      return replay(committed, request);
    }
    if (claimed.kind === 'busy') throw new IdempotencyKeyInFlight(RETRY_AFTER_SECONDS);
    return claimed.value;
  }

  /** Forgets keys whose retention has passed; returns how many. */
  async purgeExpired(): Promise<number> {
    return this.#store.deleteExpired(this.#now());
  }
}

function replay(record: StoredRecord, request: KeyedRequest): Execution {
  if (record.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused();
  return { response: record.response, replayed: true };
}
