// The views' time writer (src/handlers/iso-time.ts) against `Date.prototype.toISOString`, which
// it stands in for: every string must be the same.
import t from 'tap';
import { isoTime } from '../src/handlers/iso-time.ts';

const YEAR_10000 = Date.UTC(10000, 0, 1);

t.test('the same string as toISOString at the edges of days, months, leap years and the range', async (t) => {
  const times = [
    0,
    1,
    999,
    1000,
    Date.UTC(1970, 0, 1, 23, 59, 59, 999),
    Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    Date.UTC(2026, 11, 4, 12, 7, 43, 123),
    YEAR_10000 - 1,
  ];
  // Around the end of February and of every month, in plain, leap and century years (1900 and
  // 2100 are not leap years, 2000 and 2400 are).
  for (const year of [1970, 1972, 1999, 2000, 2001, 2024, 2026, 2100, 2400, 9999]) {
    for (let month = 0; month < 12; month++) {
      const first = Date.UTC(year, month, 1);
      times.push(first - 1, first, first + 1, Date.UTC(year, month, 28, 23, 59, 59, 999), Date.UTC(year, month, 29), Date.UTC(year, month, 30, 12));
    }
  }
  for (const time of times.filter((time) => time >= 0)) {
    const date = new Date(time);
    t.equal(isoTime(date), date.toISOString(), String(time));
  }
});

t.test('the same string as toISOString for 200,000 random times from 1970 to 9999', async (t) => {
  let differ = 0;
  let example = '';
  for (let i = 0; i < 200_000; i++) {
    const date = new Date(Math.floor(Math.random() * YEAR_10000));
    if (isoTime(date) !== date.toISOString()) {
      differ++;
      example ||= `${date.toISOString()} written ${isoTime(date)}`;
    }
  }
  t.equal(differ, 0, example);
});

t.test('times it does not write itself are toISOString', async (t) => {
  for (const time of [-1, -86_400_000, Date.UTC(1, 0, 1), Date.UTC(-1, 0, 1), YEAR_10000, 8.64e15, -8.64e15]) {
    const date = new Date(time);
    t.equal(isoTime(date), date.toISOString(), date.toISOString());
  }
  t.throws(() => isoTime(new Date(Number.NaN)), RangeError, 'an invalid Date throws, as toISOString does');
});

t.test('times of one day in a row, then of others and back (the date is kept from one time to the next of its day)', async (t) => {
  const day = Date.UTC(2026, 11, 7);
  const times = [
    day + 1,
    day + 43_200_000,
    day + 86_399_999, // the day's last millisecond
    day + 86_400_000, // the next day's first
    day - 1, // the day before's last
    day + 5,
    Date.UTC(2026, 11, 7, 12) + 366 * 86_400_000, // the same time of day a year on
    day + 6,
    Date.UTC(1999, 11, 31, 23, 59, 59, 999),
    Date.UTC(1999, 11, 31, 0, 0, 0, 0),
    day - 1,
    -1, // left to toISOString, between two it writes
    day - 1,
  ];
  for (const time of times) {
    const date = new Date(time);
    t.equal(isoTime(date), date.toISOString(), date.toISOString());
  }
});
