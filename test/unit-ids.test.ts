// New ids (src/services/ids.ts): UUIDv7 strings, each later than the one before, with random
// bits that are never reused, also across the pool's refills (256 ids each).
import t from 'tap';
import { newId } from '../src/services/ids.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const millisecondOf = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);

t.test('100,000 ids in a row: UUIDv7, unique, each after the one before, stamped with the time they were made', async (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 100_000 }, () => newId());
  const after = Date.now();
  t.equal(ids.filter((id) => !V7.test(id)).length, 0, 'every id is a UUIDv7 (version 7, variant 10)');
  t.equal(new Set(ids).size, ids.length, 'no id twice');
  const outOfOrder = ids.findIndex((id, i) => i > 0 && !(id > ids[i - 1]!));
  t.equal(outOfOrder, -1, outOfOrder > 0 ? `${ids[outOfOrder - 1]} then ${ids[outOfOrder]}` : 'each sorts after the one before');
  t.ok(millisecondOf(ids[0]!) >= before && millisecondOf(ids.at(-1)!) <= after, 'their first 48 bits are the millisecond they were made in');
  // The last 62 bits are random, one draw per id: 48 of them repeating among 100,000 ids would
  // happen about once in 50,000 runs by chance, and every time if the pool's bytes were reused.
  const tails = new Set(ids.map((id) => id.slice(-12)));
  t.equal(tails.size, ids.length, 'no two share their random tail');
});

t.test('ids made across a stepped-back clock still sort after the ones before', async (t) => {
  const first = newId();
  const realNow = Date.now;
  Date.now = () => realNow() - 60_000;
  let second: string;
  try {
    second = newId();
  } finally {
    Date.now = realNow;
  }
  t.ok(second > first, `${first} then ${second}`);
  t.equal(millisecondOf(second), millisecondOf(first), 'it keeps the last millisecond and counts on');
});
