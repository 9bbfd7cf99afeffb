// What the idempotency domain hands to its callers.
import type { RecordedResponse } from '../../persistence/idempotency/index.ts';

export type { RecordedResponse } from '../../persistence/idempotency/index.ts';

/** One keyed request. */
export interface KeyedRequest {
  /** Whose key it is: an account id, or `anonymous` for every anonymous caller. */
  scope: string;
  /** The operation the key was sent to; the same key may be used once per operation. */
  operation: string;
  key: string;
  /** Identifies the request's content; a key reused with another fingerprint is refused. */
  fingerprint: string;
  /**
   * Look the key up before the work starts, in a statement of its own: for work that is dear
   * before its first write (a sign-up hashes its password), so that a retry of a finished or
   * running request is answered or refused before that work. Otherwise the claim, sent with the
   * work's first write, finds out, and a fresh request saves the lookup's round trip.
   */
  lookupFirst?: boolean;
}

export interface Execution {
  response: RecordedResponse;
  /** True when `response` is an earlier request's, given again. */
  replayed: boolean;
}

export interface IdempotencySettings {
  /** How long a key is remembered after its request finished. */
  ttlSeconds: number;
  /** The longest a dead request can keep its key from being retried. */
  lockSeconds: number;
  /** Finished requests kept in memory for their retries (0: none; caching off: none either). */
  cacheEntries: number;
  /** What those may weigh, estimated in bytes (IDEMPOTENCY_CACHE_MB; 0: none). */
  cacheBytes: number;
}
