// Preloaded into a server process (`NODE_OPTIONS=--import=<this file>`) by tests of an instance
// whose clock lags the database's: its wall clock (`Date.now()`, `new Date()`) runs
// AGORA_TEST_CLOCK_LAG_MS behind, as a host whose clock is off would. Its monotonic clock
// (`performance.now()`, the timers) is left alone: a wrong wall clock does not change how fast
// time passes. Node's own internals keep the original Date.
const lagMs = Number(process.env.AGORA_TEST_CLOCK_LAG_MS ?? '0');
if (!Number.isFinite(lagMs)) throw new Error(`AGORA_TEST_CLOCK_LAG_MS is not a number: ${process.env.AGORA_TEST_CLOCK_LAG_MS}`);

const TrueDate = Date;

class LaggingDate extends TrueDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(TrueDate.now() - lagMs);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return TrueDate.now() - lagMs;
  }
}

// `Date()` called as a function (a string of now) cannot be reproduced by a class; nothing in
// the server calls it so.
globalThis.Date = LaggingDate as DateConstructor;
