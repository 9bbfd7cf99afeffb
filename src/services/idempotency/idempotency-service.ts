// At-most-once execution of keyed requests. A request's key, its fingerprint and its response
// are written in the same transaction as whatever the request itself writes, so that no
// failure can separate the data from its key. A fresh request is two round trips, one
// transaction:
//
//   1. The claim, sent with the BEGIN in front of the work's first write (idempotency.claim,
//      Migration20261205150000): a live record of the key means the first request has
//      finished, and this one is answered from the record; the claim looks for it before it
//      takes the key's lock, so concurrent retries of a finished request never refuse each
//      other. Another request holding the lock means the first is still running:
//      IdempotencyKeyInFlight. Either way the claim fails, and its failure stops the write
//      sent with it.
//   2. The record, sent with the COMMIT, which commits all of it. The record is a plain INSERT:
//      should the key have one after all, it fails, everything rolls back, and the request is
//      answered from that record.
//
// A retry of a finished request is the claim refused, then its ROLLBACK with the record read
// after it, in no transaction: two round trips, against one for a lookup first; the next retries
// this instance answers from memory (below). Fresh requests far outnumber retries.
// A request whose work is dear before its first write (a sign-up hashes its password) is looked
// up first instead (`KeyedRequest.lookupFirst`): one statement in no transaction answers a
// finished key from its record and refuses a key another request holds, before that work; a
// fresh request is then three round trips, and a retry one.
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
   * key stays free for a retry. Unless `request.lookupFirst`, the claim goes with `work`'s first
   * statement: up to it, `work` may run for a retry too, so it must only read there, and act
   * outside this database (a call to a domain served apart) only once `uow.settle()` has
   * returned.
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
    if (request.lookupFirst) {
      const stamp = this.#replays.stamp();
      const { record: earlier, busy } = await this.#store.lookup(id, now);
      if (busy) throw new IdempotencyKeyInFlight(RETRY_AFTER_SECONDS);
      if (earlier) return this.#replayRead(recordKey, earlier, stamp, request);
    }
    // Once more only should the record that refused the claim be gone when read (expired or
    // deleted in between): the key is then free, and the request runs.
    for (let attempt = 0; ; attempt++) {
      const stamp = this.#replays.stamp();
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
        // The key has a record: the claim found it, or the first request with the key committed
        // between the claim's look and the record's INSERT.
        const { record: committed } = await this.#store.lookup(id, this.#now());
        if (committed) return this.#replayRead(recordKey, committed, stamp, request);
        if (attempt > 0) throw error;
        continue;
      }
      if (claimed.kind === 'busy') throw new IdempotencyKeyInFlight(RETRY_AFTER_SECONDS);
      if (claimed.kind === 'finished') return this.#replayRead(recordKey, claimed.record, stamp, request);
      return claimed.value;
    }
  }

  /** Answers `request` from `record`, just read from the store, and keeps it for the next retries. */
  #replayRead(recordKey: string, record: StoredRecord, stamp: number, request: KeyedRequest): Execution {
    if ((record.response.body?.length ?? 0) <= MAX_CACHED_BODY_CHARS) this.#replays.set(recordKey, record, stamp);
    return replay(record, request);
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
