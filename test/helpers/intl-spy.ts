// Reports the process's uses of ICU's locale data: a new `Intl` formatter or collator, or a string,
// number or date compared or written by locale (each makes or reuses one). The first of each kind
// costs V8 its list of the locales ICU has data for, which leaves megabytes of Node's binary
// resident (bench/README.md, "ICU's locale data"). Preloaded into a server process with
// `NODE_OPTIONS=--import=<this file>` and AGORA_INTL_SPY=stdout, it writes a JSON log line
// (`{ "msg": "intl", what, stack }`) for the first use of each kind.
import { writeSync } from 'node:fs';

const CONSTRUCTORS = ['Collator', 'DateTimeFormat', 'NumberFormat', 'PluralRules', 'RelativeTimeFormat', 'ListFormat', 'Segmenter', 'DisplayNames'] as const;
const METHODS: [object, string, string][] = [
  [String.prototype, 'localeCompare', 'String'],
  [Number.prototype, 'toLocaleString', 'Number'],
  [Date.prototype, 'toLocaleString', 'Date'],
  [Date.prototype, 'toLocaleDateString', 'Date'],
  [Date.prototype, 'toLocaleTimeString', 'Date'],
  [Array.prototype, 'toLocaleString', 'Array'],
];

/** Calls `report` at the first use of each kind, with the stack that used it; returns what undoes it. */
export function watchIntl(report: (what: string, stack: string) => void): () => void {
  const seen = new Set<string>();
  const use = (what: string) => {
    if (seen.has(what)) return;
    seen.add(what);
    report(what, new Error().stack?.split('\n').slice(3, 12).join('\n') ?? '');
  };
  const undo: (() => void)[] = [];
  const intl = Intl as unknown as Record<string, unknown>;
  for (const name of CONSTRUCTORS) {
    const original = intl[name] as (new (...args: unknown[]) => object) & ((...args: unknown[]) => object);
    if (typeof original !== 'function') continue;
    const watched = new Proxy(original, {
      construct(target, args, newTarget) {
        use(`Intl.${name}`);
        return Reflect.construct(target, args, newTarget);
      },
      apply(target, self, args) {
        use(`Intl.${name}`);
        return Reflect.apply(target, self, args);
      },
    });
    intl[name] = watched;
    undo.push(() => (intl[name] = original));
  }
  for (const [prototype, method, owner] of METHODS) {
    const original = (prototype as Record<string, unknown>)[method] as (...args: unknown[]) => unknown;
    Object.defineProperty(prototype, method, {
      value: function (this: unknown, ...args: unknown[]) {
        use(`${owner}.prototype.${method}`);
        return original.apply(this, args);
      },
      writable: true,
      configurable: true,
    });
    undo.push(() => Object.defineProperty(prototype, method, { value: original, writable: true, configurable: true }));
  }
  return () => undo.reverse().forEach((step) => step());
}

if (process.env.AGORA_INTL_SPY === 'stdout') {
  writeSync(1, `${JSON.stringify({ msg: 'intl spy watching' })}\n`);
  watchIntl((what, stack) => writeSync(1, `${JSON.stringify({ msg: 'intl', what, stack })}\n`));
}
