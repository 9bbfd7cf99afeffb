// A stream's position: one seq per source, written `n42.m17` (each source's one-letter key and
// the seq of the last event of that source delivered). It is the `id` of every event, so that
// `Last-Event-ID` resumes every source after what the client last received.

/** The longest Last-Event-ID read: a letter and up to 19 digits per source, with separators. */
export const MAX_POSITION_LENGTH = 400;

const PART = /^([a-z])(0|[1-9][0-9]{0,18})$/;
const MAX_SEQ = 2n ** 63n - 1n;

export type Position = Map<string, bigint>;

/** `n42.m17`, the keys in the order given. A stream without sources is at `0`. */
export function formatPosition(keys: readonly string[], position: Position): string {
  if (keys.length === 0) return '0';
  return keys.map((key) => `${key}${position.get(key) ?? 0n}`).join('.');
}

/**
 * The position an id names, or a reason it names none. A source the id does not mention (one
 * added since it was issued) is absent from the map: it starts at its current tail.
 */
export function parsePosition(id: string, keys: ReadonlySet<string>): Position | string {
  if (id.length > MAX_POSITION_LENGTH) return `is longer than ${MAX_POSITION_LENGTH} characters`;
  const position: Position = new Map();
  if (id === '0') return position;
  for (const part of id.split('.')) {
    const match = PART.exec(part);
    if (!match) return 'is not a position this stream issued';
    const [, key, digits] = match as unknown as [string, string, string];
    const seq = BigInt(digits);
    if (!keys.has(key) || position.has(key) || seq > MAX_SEQ) return 'is not a position this stream issued';
    position.set(key, seq);
  }
  return position;
}
