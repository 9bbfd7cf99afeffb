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
