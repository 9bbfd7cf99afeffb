// The idempotency domain's public API: running keyed requests at most once.
import type { Database } from '../../persistence/sql.ts';
import type { Caching } from '../cache.ts';
import { IdempotencyStore } from '../../persistence/idempotency/index.ts';
import { IdempotencyService } from './idempotency-service.ts';
import type { IdempotencySettings } from './model.ts';

export type { IdempotencyService } from './idempotency-service.ts';
export type { Execution, IdempotencySettings, KeyedRequest, RecordedResponse } from './model.ts';

export function createIdempotencyDomain(db: Database, settings: IdempotencySettings, caching?: Caching) {
  return { idempotency: new IdempotencyService(new IdempotencyStore(db), settings, undefined, caching) };
}
