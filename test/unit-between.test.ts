// The `between` day range and its time zone (src/services/posts/between.ts), without a server:
// half-open [start of START, start of END), in UTC or in an IANA zone, across clock changes.
import t, { type Test } from 'tap';
import { InvalidInput } from '../src/services/errors.ts';
import { parseBetween } from '../src/services/posts/between.ts';

/** The range as ISO strings, for readable comparisons. */
function range(between: string, tz?: string): { from: string; to: string } {
  const parsed = parseBetween(between, tz);
  if (!parsed) throw new Error('no range');
  return { from: parsed.from.toISOString(), to: parsed.to.toISOString() };
}

function refusal(t: Test, between: string | undefined, tz: string | undefined): { field: string; detail: string } | undefined {
  try {
    parseBetween(between, tz);
  } catch (error) {
    t.type(error, InvalidInput);
    const errors = (error as InvalidInput).errors;
    t.equal(errors.length, 1);
    return errors[0];
  }
  t.fail(`between=${between} tz=${tz} was not refused`);
  return undefined;
}

const hours = (r: { from: string; to: string }) => (Date.parse(r.to) - Date.parse(r.from)) / 3_600_000;

t.test('no between and no tz: no range', async (t) => {
  t.equal(parseBetween(undefined, undefined), undefined);
});

t.test('without tz the days are UTC days, from the start of the first to the start of the last (excluded)', async (t) => {
  t.same(range('2026-03-01_2026-03-02'), { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z' });
  t.same(range('2025-12-31_2026-01-02'), { from: '2025-12-31T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' });
  t.same(range('2024-02-28_2024-03-01'), { from: '2024-02-28T00:00:00.000Z', to: '2024-03-01T00:00:00.000Z' }, 'a leap year: two days');
  t.same(range('2026-03-01_2026-03-02', 'UTC'), range('2026-03-01_2026-03-02'), 'tz=UTC is the same');
});

t.test('in a zone the days start at its midnight', async (t) => {
  t.same(range('2026-01-15_2026-01-16', 'America/New_York'), { from: '2026-01-15T05:00:00.000Z', to: '2026-01-16T05:00:00.000Z' });
  t.same(range('2026-07-15_2026-07-16', 'America/New_York'), { from: '2026-07-15T04:00:00.000Z', to: '2026-07-16T04:00:00.000Z' }, 'in summer time');
  t.same(range('2026-01-01_2026-01-02', 'Asia/Kolkata'), { from: '2025-12-31T18:30:00.000Z', to: '2026-01-01T18:30:00.000Z' }, 'a half-hour offset');
  t.same(range('2026-01-01_2026-01-02', 'Asia/Kathmandu'), { from: '2025-12-31T18:15:00.000Z', to: '2026-01-01T18:15:00.000Z' });
  t.same(range('2026-01-01_2026-01-02', 'Pacific/Kiritimati'), { from: '2025-12-31T10:00:00.000Z', to: '2026-01-01T10:00:00.000Z' }, 'UTC+14');
  t.same(range('2026-01-01_2026-01-02', 'Pacific/Pago_Pago'), { from: '2026-01-01T11:00:00.000Z', to: '2026-01-02T11:00:00.000Z' }, 'UTC-11');
});

t.test('the day clocks go forward is 23 hours long, the day they go back 25', async (t) => {
  const spring = range('2026-03-29_2026-03-30', 'Europe/Berlin');
  t.same(spring, { from: '2026-03-28T23:00:00.000Z', to: '2026-03-29T22:00:00.000Z' });
  t.equal(hours(spring), 23);
  const autumn = range('2026-10-25_2026-10-26', 'Europe/Berlin');
  t.same(autumn, { from: '2026-10-24T22:00:00.000Z', to: '2026-10-25T23:00:00.000Z' });
  t.equal(hours(autumn), 25);
  t.equal(hours(range('2026-03-01_2026-04-01', 'Europe/Berlin')), 31 * 24 - 1, 'March in Berlin is an hour short');
});

t.test('where a clock change skips midnight the day starts at its first instant', async (t) => {
  // Havana goes from 00:00 CST straight to 01:00 CDT on the second Sunday of March.
  const skipped = range('2026-03-08_2026-03-09', 'America/Havana');
  t.same(skipped, { from: '2026-03-08T05:00:00.000Z', to: '2026-03-09T04:00:00.000Z' });
  t.equal(hours(skipped), 23);
  t.same(range('2026-03-07_2026-03-08', 'America/Havana'), { from: '2026-03-07T05:00:00.000Z', to: '2026-03-08T05:00:00.000Z' }, 'the day before is whole');
  // São Paulo, 2018-11-04: 00:00 -03 became 01:00 -02.
  t.same(range('2018-11-04_2018-11-05', 'America/Sao_Paulo'), { from: '2018-11-04T03:00:00.000Z', to: '2018-11-05T02:00:00.000Z' });
});

t.test('where a clock change repeats midnight the day starts at its first midnight', async (t) => {
  // Havana goes back from 01:00 CDT to 00:00 CST on the first Sunday of November: midnight twice.
  const repeated = range('2025-11-02_2025-11-03', 'America/Havana');
  t.same(repeated, { from: '2025-11-02T04:00:00.000Z', to: '2025-11-03T05:00:00.000Z' });
  t.equal(hours(repeated), 25);
  // São Paulo, 2019-02-17: 00:00 -02 became 23:00 -03 of the day before, which had 25 hours.
  t.same(range('2019-02-16_2019-02-17', 'America/Sao_Paulo'), { from: '2019-02-16T02:00:00.000Z', to: '2019-02-17T03:00:00.000Z' });
});

t.test('a day a zone skipped entirely adds nothing to a range', async (t) => {
  // Samoa skipped 2011-12-30, jumping from UTC-10 to UTC+14.
  const r = range('2011-12-29_2011-12-31', 'Pacific/Apia');
  t.same(r, { from: '2011-12-29T10:00:00.000Z', to: '2011-12-30T10:00:00.000Z' });
  t.equal(hours(r), 24);
});

t.test('a malformed between is refused, naming between', async (t) => {
  const shape = { field: 'between', detail: 'must be START_END with both days as YYYY-MM-DD' };
  for (const between of [
    '',
    '2026-03-01',
    '2026-03-01_',
    '2026-03-01..2026-03-02',
    '2026-3-01_2026-03-02',
    '26-03-01_26-03-02',
    '2026-03-01_2026-03-02 ',
    ' 2026-03-01_2026-03-02',
    '2026-03-01_2026-03-02\n',
    '2026-03-01T00:00_2026-03-02',
    '2026/03/01_2026/03/02',
    '２０２６-03-01_2026-03-02',
    '2026-03-01_2026-03-02_2026-03-03',
  ]) {
    t.same(refusal(t, between, undefined), shape, JSON.stringify(between));
  }
});

t.test('a day that does not exist is refused', async (t) => {
  const missing = { field: 'between', detail: 'names a day that does not exist' };
  for (const between of ['2026-02-29_2026-03-02', '2026-02-01_2026-02-30', '2026-13-01_2027-01-02', '2026-00-10_2026-01-02', '2026-04-31_2026-05-02', '2026-01-00_2026-01-02', '2026-01-32_2026-02-02']) {
    t.same(refusal(t, between, undefined), missing, between);
  }
  t.ok(parseBetween('2024-02-29_2024-03-01', undefined), 'the 29th of February of a leap year exists');
});

t.test('the end day must come after the start day', async (t) => {
  const order = { field: 'between', detail: 'the end day must come after the start day' };
  t.same(refusal(t, '2026-03-02_2026-03-02', undefined), order, 'an empty range');
  t.same(refusal(t, '2026-03-03_2026-03-02', undefined), order, 'a reversed range');
  t.same(refusal(t, '2026-03-02_2026-03-02', 'Europe/Berlin'), order, 'in a zone too');
});

t.test('tz must be an IANA zone name, and only comes with between', async (t) => {
  const zone = { field: 'tz', detail: 'is not an IANA time zone name' };
  for (const tz of ['', 'Mars/Olympus_Mons', 'Europe/Berlin ', 'GMT+25', '+25:00', 'Europe/../UTC']) {
    t.same(refusal(t, '2026-03-01_2026-03-02', tz), zone, JSON.stringify(tz));
  }
  t.same(refusal(t, undefined, 'Europe/Berlin'), { field: 'tz', detail: 'only applies together with between' });
  t.same(
    refusal(t, '2026-02-30_2026-03-02', 'Mars/Olympus_Mons'),
    { field: 'between', detail: 'names a day that does not exist' },
    'between is checked first',
  );
});

t.test('east of UTC too, a day whose midnight repeats starts at its first midnight', async (t) => {
  // Amman, 2021-10-29: 01:00 +03 became 00:00 +02, so the day began at 00:00 +03 (21:00 UTC);
  // the hour until 22:00 UTC is the 29th's, not the 28th's.
  t.same(range('2021-10-29_2021-10-30', 'Asia/Amman'), { from: '2021-10-28T21:00:00.000Z', to: '2021-10-29T22:00:00.000Z' });
  t.same(range('2021-10-28_2021-10-29', 'Asia/Amman'), { from: '2021-10-27T21:00:00.000Z', to: '2021-10-28T21:00:00.000Z' });
  // Beirut, 2026-03-29: 00:00 +02 became 01:00 +03; the day starts at that 01:00.
  t.same(range('2026-03-29_2026-03-30', 'Asia/Beirut'), { from: '2026-03-28T22:00:00.000Z', to: '2026-03-29T21:00:00.000Z' });
});

t.test("a zone's formatter and its days' starts are worked out once: read again, a range asks ICU nothing", async (t) => {
  const Original = Intl.DateTimeFormat;
  const formatToParts = Original.prototype.formatToParts;
  let made = 0;
  let formatted = 0;
  // Counts what parseBetween asks of ICU (it makes formatters with `new Intl.DateTimeFormat`).
  Intl.DateTimeFormat = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      made++;
    }
  } as typeof Intl.DateTimeFormat;
  Original.prototype.formatToParts = function (this: Intl.DateTimeFormat, date?: Date | number) {
    formatted++;
    return formatToParts.call(this, date);
  };
  try {
    const first = range('2031-03-29_2031-03-31', 'Asia/Tehran');
    t.ok(made === 1 && formatted > 0, `the first read makes a formatter and formats (${made}, ${formatted})`);
    [made, formatted] = [0, 0];
    t.same(range('2031-03-29_2031-03-31', 'Asia/Tehran'), first, 'read again: the same range');
    t.same([made, formatted], [0, 0], 'without a formatter made or a time formatted');
    const next = range('2031-03-31_2031-04-02', 'Asia/Tehran');
    t.same([made, formatted > 0], [0, true], 'another day of the zone: its formatter is kept, the new day is worked out');
    t.equal(next.from, first.to, 'and the day read before is the same instant');
  } finally {
    Intl.DateTimeFormat = Original;
    Original.prototype.formatToParts = formatToParts;
  }
});
