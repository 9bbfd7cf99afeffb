// IdempotencyService (src/services/idempotency/) on a fake store the test scripts: which path a
// keyed request takes (claim first, or a lookup first), what each of the store's answers makes
// of it, and the one retry when the record that refused a claim is gone when read. No database:
// test/idempotency.test.ts and test/statements.test.ts run the same paths on PostgreSQL.
import t from 'tap';
import type { IdempotencyStore, StoredRecord } from '../src/persistence/idempotency/index.ts';
import type { ClaimOutcome } from '../src/persistence/idempotency/store.ts';
import { IdempotencyKeyInFlight, IdempotencyKeyReused } from '../src/services/errors.ts';
import { IdempotencyService } from '../src/services/idempotency/idempotency-service.ts';
import { FakeSource } from './helpers/fake-invalidations.ts';

const KEY_TAKEN = Object.assign(new Error('duplicate key value violates unique constraint "record_pkey"'), { code: '23505', constraint: 'record_pkey' });
const settings = { ttlSeconds: 3600, lockSeconds: 10, cacheEntries: 100, cacheBytes: 1 << 20 };
const request = { scope: 'account-a', operation: 'createPost', key: 'k1', fingerprint: 'f' };

function record(fingerprint = 'f'): StoredRecord {
  return { ...request, fingerprint, response: { status: 201, headers: { location: '/v1/posts/1' }, body: '{"id":"1"}' }, createdAt: new Date(), expiresAt: new Date(Date.now() + 3_600_000) };
}

/** A store whose claims answer, in turn, `claims` (a thrown error, or an outcome; 'run' runs the work), and whose lookups answer `lookups`. */
function fakeStore(claims: (Error | ClaimOutcome<never>['kind'] | 'run' | { finished: StoredRecord })[], lookups: { record: StoredRecord | null; busy: boolean }[] = []) {
  const calls: string[] = [];
  const store = {
    async lookup() {
      calls.push('lookup');
      return lookups.shift() ?? { record: null, busy: false };
    },
    async claim<T>(_id: unknown, _lease: number, _now: Date, work: (uow: never) => Promise<T>): Promise<ClaimOutcome<T>> {
      calls.push('claim');
      const next = claims.shift() ?? 'run';
      if (next instanceof Error) throw next;
      if (next === 'busy') return { kind: 'busy' };
      if (typeof next === 'object') return { kind: 'finished', record: next.finished };
      return { kind: 'locked', value: await work({} as never) };
    },
    save() {
      calls.push('save');
    },
    isKeyTaken: (error: unknown) => error === KEY_TAKEN,
    async deleteExpired() {
      return 0;
    },
  };
  return { store: store as unknown as IdempotencyStore, calls };
}

function service(store: IdempotencyStore) {
  return new IdempotencyService(store, settings, () => new Date(), { source: new FakeSource(), maxEntries: 100 });
}

/** What `promise` was rejected with (undefined when it resolved). */
const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

const work = async () => ({ response: { status: 201, headers: {}, body: '{"id":"2"}' }, keep: true });

t.test('a fresh request: the claim goes with the work, no lookup before it; its record is saved', async (t) => {
  const { store, calls } = fakeStore(['run']);
  const done = await service(store).execute(request, work);
  t.same(done, { response: { status: 201, headers: {}, body: '{"id":"2"}' }, replayed: false });
  t.same(calls, ['claim', 'save']);
});

t.test('a claim refused by a record read with its ROLLBACK: replayed from it, then from memory', async (t) => {
  const { store, calls } = fakeStore([{ finished: record() }]);
  const idempotency = service(store);
  const first = await idempotency.execute(request, work);
  t.same(first, { response: record().response, replayed: true });
  t.same(calls, ['claim'], 'no read of its own');
  const again = await idempotency.execute(request, work);
  t.equal(again.replayed, true);
  t.same(calls, ['claim'], 'the next retry from memory');
  t.type(await refusal(idempotency.execute({ ...request, fingerprint: 'other' }, work)), IdempotencyKeyReused, 'another request with the key: 422, from memory too');
});

t.test('a claim refused by a record not read with it: read on its own', async (t) => {
  const { store, calls } = fakeStore([KEY_TAKEN], [{ record: record(), busy: false }]);
  const done = await service(store).execute(request, work);
  t.equal(done.replayed, true);
  t.same(calls, ['claim', 'lookup']);
});

t.test('the record that refused the claim gone when read (expired or deleted meanwhile): the request runs, once more only', async (t) => {
  const gone = fakeStore([KEY_TAKEN, 'run']);
  const done = await service(gone.store).execute(request, work);
  t.same(done.replayed, false, 'the key is free: the request ran');
  t.same(gone.calls, ['claim', 'lookup', 'claim', 'save']);

  const goneTwice = fakeStore([KEY_TAKEN, KEY_TAKEN, 'run']);
  t.equal(await refusal(service(goneTwice.store).execute(request, work)), KEY_TAKEN, 'twice: the error, not a loop');
  t.same(goneTwice.calls, ['claim', 'lookup', 'claim', 'lookup']);
});

t.test('a key in flight: 409 from the claim; looked up first, from the lookup, before any work', async (t) => {
  const claimed = fakeStore(['busy']);
  t.type(await refusal(service(claimed.store).execute(request, work)), IdempotencyKeyInFlight);
  t.same(claimed.calls, ['claim']);

  const looked = fakeStore([], [{ record: null, busy: true }]);
  let ran = false;
  t.type(await refusal(service(looked.store).execute({ ...request, lookupFirst: true }, async () => ((ran = true), work()))), IdempotencyKeyInFlight);
  t.same(looked.calls, ['lookup'], 'no claim');
  t.equal(ran, false, 'and no work');

  const finished = fakeStore([], [{ record: record(), busy: false }]);
  const done = await service(finished.store).execute({ ...request, lookupFirst: true }, async () => t.fail('a finished key looked up first runs no work') as never);
  t.equal(done.replayed, true);
  t.same(finished.calls, ['lookup']);
});
