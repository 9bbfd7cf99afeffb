// A stream's position: for each source, the (txid, seq) of the last event of that source
// delivered, written `n7481-42.m7480-17` (each source's one-letter key, the writing
// transaction's id, the row's seq). Rows are delivered in (txid, seq) order (see
// src/persistence/stream-rows.ts), so this pair is where a source resumes. It is the `id` of
// every event, so that `Last-Event-ID` resumes every source after what the client last received.
// Clients treat it as opaque.

/** The longest Last-Event-ID read (the contract's StreamPosition): a letter and two numbers of up to 19 digits per source, with separators. */
export const MAX_POSITION_LENGTH = 400;

const PART = /^([a-z])(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})$/;
const MAX_SEQ = 2n ** 63n - 1n;

/** Where a source is: the last delivered row's transaction id and seq ({0, 0}: before every row). */
export interface SourcePosition {
  txid: bigint;
  seq: bigint;
}

export type Position = Map<string, SourcePosition>;

export const START: SourcePosition = { txid: 0n, seq: 0n };

/** `n7481-42.m7480-17`, the keys in the order given. A stream without sources is at `0`. */
export function formatPosition(keys: readonly string[], position: Position): string {
  if (keys.length === 0) return '0';
  return keys
    .map((key) => {
      const at = position.get(key) ?? START;
      return `${key}${at.txid}-${at.seq}`;
    })
    .join('.');
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
    const [, key, txidDigits, seqDigits] = match as unknown as [string, string, string, string];
    const txid = BigInt(txidDigits);
    const seq = BigInt(seqDigits);
    if (!keys.has(key) || position.has(key) || seq > MAX_SEQ) return 'is not a position this stream issued';
    position.set(key, { txid, seq });
  }
  return position;
}
