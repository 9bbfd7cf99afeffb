// The order `localeCompare` gives identifiers (letters, digits and `_`), computed without ICU.
//
// MikroORM sorts the entities it discovers by class name with `String.prototype.localeCompare`,
// once, at start. The first `localeCompare` of a process creates V8's default collator, and V8
// then builds its list of the locales that have collation data: it opens a resource of every
// locale in the ICU data Node carries. In Agora's process that is about 2 MB of Node's binary
// that stays resident, beside the 5 MB the first `Intl.DateTimeFormat` would add
// (src/jobs/queue.ts; bench/README.md, "ICU's locale data"). Nothing else in the server
// compares strings by locale. So MikroORM's sort runs with this comparison in `localeCompare`'s
// place, for that synchronous call only: no other code runs meanwhile, and any string that is
// not an identifier is still compared by `localeCompare`. test/unit-identifier-order.test.ts
// checks that the two agree.
import { MetadataDiscovery } from '@mikro-orm/core';

/**
 * A character's weight at the first level of the Unicode Collation Algorithm's default order
 * (CLDR root), for the characters of identifiers: `_` (punctuation) before the digits, the
 * digits before the letters, a letter's two cases equal.
 */
function primary(code: number): number {
  if (code === 95) return 0;
  if (code <= 57) return 1 + code - 48;
  return 11 + ((code | 32) - 97);
}

const IDENTIFIER = /^[A-Za-z0-9_]*$/;

/**
 * `Math.sign(a.localeCompare(b))` for identifiers (`[A-Za-z0-9_]*`), as V8 computes it with ICU's
 * root collation: first by the characters' primary weights (a prefix first), then, for strings
 * equal but for case, by the first character whose case differs, lower case first. Undefined for
 * any other string.
 */
export function compareIdentifiers(a: string, b: string): number | undefined {
  if (!IDENTIFIER.test(a) || !IDENTIFIER.test(b)) return undefined;
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i += 1) {
    const difference = primary(a.charCodeAt(i)) - primary(b.charCodeAt(i));
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  for (let i = 0; i < shorter; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    // Equal at the first level, so the same letter: the lower case one has the larger code.
    if (x !== y) return x > y ? -1 : 1;
  }
  return 0;
}

/** Runs `work` (synchronous) with `localeCompare` comparing identifiers by `compareIdentifiers`. */
export function withIdentifierOrder<T>(work: () => T): T {
  const localeCompare = String.prototype.localeCompare;
  const compare = function (this: string, that: string, ...rest: unknown[]): number {
    if (rest.length === 0) {
      const order = compareIdentifiers(String(this), String(that));
      if (order !== undefined) return order;
    }
    return localeCompare.call(this, that, ...(rest as [undefined]));
  };
  Object.defineProperty(String.prototype, 'localeCompare', { value: compare, writable: true, configurable: true });
  try {
    return work();
  } finally {
    Object.defineProperty(String.prototype, 'localeCompare', { value: localeCompare, writable: true, configurable: true });
  }
}

let patched = false;

/**
 * Has MikroORM's discovery sort its entities (`MetadataDiscovery.mapDiscoveredEntities`, which
 * runs synchronously) with `withIdentifierOrder`. Once per process; without that method (another
 * MikroORM) nothing changes, and the test that counts collators fails.
 */
export function discoverWithoutCollator(): void {
  if (patched) return;
  patched = true;
  const prototype = MetadataDiscovery.prototype as unknown as { mapDiscoveredEntities?: (...args: unknown[]) => unknown };
  const original = prototype.mapDiscoveredEntities;
  if (typeof original !== 'function') return;
  prototype.mapDiscoveredEntities = function (this: unknown, ...args: unknown[]) {
    return withIdentifierOrder(() => original.apply(this, args));
  };
}
