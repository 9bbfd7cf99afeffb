// `between=YYYY-MM-DD_YYYY-MM-DD`: a half-open range of days, [start of START, start of END),
// in UTC or in the IANA time zone `tz` names.
import { InvalidInput } from '../errors.ts';

export interface TimeRange {
  from: Date;
  to: Date;
}

const SHAPE = /^(\d{4})-(\d{2})-(\d{2})_(\d{4})-(\d{2})-(\d{2})$/;

interface Day {
  year: number;
  month: number;
  day: number;
}

function isRealDay({ year, month, day }: Day): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * What a zone's days cost is kept, per zone name as sent: making a formatter took 0.1–0.3 ms, and
 * the start of a day in a zone up to six `formatToParts` calls of 20–50 µs each, so a page read
 * with `tz` cost about twice a page without. Zone data does not change while the process runs.
 * Both are bounded (zone names are case-insensitive, so one zone has many spellings); the oldest
 * entry goes first.
 */
/** An ICU formatter holds some tens of KB outside the heap; a handful of zones is what clients use. */
const MAX_FORMATTERS = 32;
const MAX_DAY_STARTS = 2000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const dayStarts = new Map<string, number>();

function remember<V>(map: Map<string, V>, max: number, key: string, value: V): V {
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
  return value;
}

/** A formatter of wall-clock times in `timeZone`; throws RangeError for a name that is no zone. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const kept = formatters.get(timeZone);
  if (kept) return kept;
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return remember(formatters, MAX_FORMATTERS, timeZone, format);
}

/** The wall-clock time in the zone at `instant`, read as if it were UTC. */
function wallClock(format: Intl.DateTimeFormat, instant: number): number {
  const parts = Object.fromEntries(format.formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
}

const DAY_MS = 86_400_000;

/**
 * The first instant of `day` in the zone: its midnight, the earlier one where a clock change
 * repeats midnight, or the end of the gap where a change skips it. Local midnight is UTC midnight
 * minus one of the offsets in force around the day (a change near it has the offset of the day
 * before on one side and of the day after on the other); the earliest that falls on the day wins.
 */
function startOfDay(day: Day, format: Intl.DateTimeFormat | null): Date {
  const midnight = Date.UTC(day.year, day.month - 1, day.day);
  if (!format) return new Date(midnight);
  const offsets = new Set([midnight - DAY_MS, midnight, midnight + DAY_MS].map((instant) => wallClock(format, instant) - instant));
  const sameDay = (instant: number) => Math.floor(wallClock(format, instant) / DAY_MS) === midnight / DAY_MS;
  const candidates = [...offsets].map((offset) => midnight - offset).filter(sameDay);
  // A day the zone skipped entirely has no instant: it starts where the next day does.
  return new Date(candidates.length > 0 ? Math.min(...candidates) : startOfDay(nextDay(day), format).getTime());
}

function nextDay({ year, month, day }: Day): Day {
  const next = new Date(Date.UTC(year, month - 1, day) + DAY_MS);
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

/** Parses `between` (and `tz`), or throws InvalidInput naming the parameter at fault. */
export function parseBetween(between: string | undefined, tz: string | undefined): TimeRange | undefined {
  if (between === undefined) {
    if (tz !== undefined) throw new InvalidInput([{ field: 'tz', detail: 'only applies together with between' }]);
    return undefined;
  }
  const match = SHAPE.exec(between);
  if (!match) throw new InvalidInput([{ field: 'between', detail: 'must be START_END with both days as YYYY-MM-DD' }]);
  const [start, end] = [1, 4].map((i) => ({ year: Number(match[i]), month: Number(match[i + 1]), day: Number(match[i + 2]) })) as [Day, Day];
  if (!isRealDay(start) || !isRealDay(end)) throw new InvalidInput([{ field: 'between', detail: 'names a day that does not exist' }]);
  let format: Intl.DateTimeFormat | null = null;
  if (tz !== undefined) {
    try {
      format = formatterFor(tz);
    } catch {
      throw new InvalidInput([{ field: 'tz', detail: 'is not an IANA time zone name' }]);
    }
  }
  const startIn = (day: Day): Date => {
    if (!format) return startOfDay(day, null);
    const key = `${tz}\u0000${day.year}-${day.month}-${day.day}`;
    const kept = dayStarts.get(key);
    return new Date(kept ?? remember(dayStarts, MAX_DAY_STARTS, key, startOfDay(day, format).getTime()));
  };
  const range = { from: startIn(start), to: startIn(end) };
  if (range.to.getTime() <= range.from.getTime()) {
    throw new InvalidInput([{ field: 'between', detail: 'the end day must come after the start day' }]);
  }
  return range;
}
