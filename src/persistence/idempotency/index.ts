// The idempotency domain's persistence API.
export { IdempotencyStore } from './store.ts';
export type { KeyId, StoredOutcome, StoredRecord } from './store.ts';
export { idempotencyEntities } from './entities.ts';
