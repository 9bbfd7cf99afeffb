// src/persistence/identifier-order.ts: the order `localeCompare` gives identifiers, computed
// without ICU, and the window in which MikroORM's entity sort uses it.
import t from 'tap';
import { compareIdentifiers, withIdentifierOrder } from '../src/persistence/identifier-order.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_';

/** A deterministic stream of numbers in [0, 1) (mulberry32), so that a failure can be run again. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('agrees with localeCompare on identifiers', async (t) => {
  const next = random(20261205);
  const pick = (chars: string) => chars[Math.floor(next() * chars.length)]!;
  const word = (chars: string, max: number) => Array.from({ length: Math.floor(next() * (max + 1)) }, () => pick(chars)).join('');
  const flipCase = (s: string) => [...s].map((c) => (next() < 0.4 ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c)).join('');
  const pairs: [string, string][] = [
    ['', ''],
    ['', 'a'],
    ['a', 'A'],
    ['ab', 'Ab'],
    ['aB', 'Ab'],
    ['abc', 'ABd'],
    ['a_b', 'ab'],
    ['a1', 'a_'],
    ['A9', 'a10'],
    ['Zeta', 'alpha'],
    ['PostEntity', 'PostsEntity'],
    ['IdempotencyRecord', 'IdempotencyKey'],
  ];
  for (let i = 0; i < 20_000; i += 1) {
    const a = word(i % 2 ? ALPHABET : 'aAbB0_', 12);
    const b = next() < 0.5 ? flipCase(a) : next() < 0.5 ? a + word(ALPHABET, 3) : word(i % 2 ? ALPHABET : 'aAbB0_', 12);
    pairs.push([a, b]);
  }
  const disagree = pairs.filter(([a, b]) => compareIdentifiers(a, b) !== Math.sign(a.localeCompare(b)));
  t.same(disagree.slice(0, 10), [], `all ${pairs.length} pairs agree`);
});

t.test('leaves anything but an identifier to localeCompare', async (t) => {
  t.equal(compareIdentifiers('é', 'f'), undefined);
  t.equal(compareIdentifiers('a-b', 'ab'), undefined);
  t.equal(compareIdentifiers('a b', 'ab'), undefined);
  t.equal(compareIdentifiers('ab', 'a.b'), undefined);
  const hyphen = 'a-b'.localeCompare('ab');
  withIdentifierOrder(() => {
    t.equal('é'.localeCompare('f'), -1, 'an accented letter among the letters, as ICU orders it');
    t.equal('a-b'.localeCompare('ab'), hyphen, 'as localeCompare answers it');
    t.equal('B'.localeCompare('a'), 1);
    t.equal('a'.localeCompare('B', 'en', { caseFirst: 'upper' }), -1, 'a call with locales or options goes to localeCompare');
  });
});

t.test('is in place for the call only, and put back when it throws', async (t) => {
  const localeCompare = String.prototype.localeCompare;
  const sorted = withIdentifierOrder(() => {
    t.not(String.prototype.localeCompare, localeCompare, 'in place during the call');
    return ['Post', 'account', 'Account', '_x', '9'].sort((a, b) => a.localeCompare(b));
  });
  t.same(sorted, ['_x', '9', 'account', 'Account', 'Post']);
  t.equal(String.prototype.localeCompare, localeCompare, 'put back after');
  t.throws(() => withIdentifierOrder(() => {
    throw new Error('planned');
  }), /planned/);
  t.equal(String.prototype.localeCompare, localeCompare, 'put back after a throw');
  t.notOk(Object.getOwnPropertyDescriptor(String.prototype, 'localeCompare')!.enumerable, 'not enumerable, as before');
});
