// The idempotency domain's persistence API.
export { IdempotencyStore } from './store.ts';
export type { KeyId, RecordedResponse, StoredRecord } from './store.ts';
export { idempotencyEntities } from './entities.ts';
