// New ids: UUIDv7 (RFC 9562), time-ordered, as `uuid`'s `v7()` makes them, with their random bits
// taken from a pool. `uuid`'s own `v7()` asks the Web Crypto API for 16 bytes at every call
// (`crypto.getRandomValues`), which took 13–20 µs an id on this machine, against 1–2 µs here
// (bench/README.md, "A keyed create's own CPU"). Node's `crypto.randomUUID` pools its randomness
// the same way.
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/** Random bytes for 256 ids, filled again once used up; each byte is used once. */
const pool = new Uint8Array(4096);
let used = pool.length;

function sixteenRandomBytes(): Uint8Array {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += 16;
  return pool.subarray(used - 16, used);
}

/**
 * The last id's millisecond and counter. As in `uuid`'s `v7()`: a new millisecond starts the
 * 31-bit counter at a random value, and ids made within one millisecond (or while the clock
 * stands still or steps back) count up from the last, so that every id this process makes sorts
 * after the one before.
 */
let lastMs = -Infinity;
let counter = 0;

/** A new UUIDv7, later (as a string, and in PostgreSQL's `uuid` order) than any made before by this process. */
export function newId(): string {
  const now = Date.now();
  const random = sixteenRandomBytes();
  if (now > lastMs) {
    counter = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
    lastMs = now;
  } else {
    counter = (counter + 1) | 0;
    if (counter === 0) lastMs++;
  }
  return v7({ msecs: lastMs, seq: counter, random });
}
