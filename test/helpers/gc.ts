// A full garbage collection on demand, for tests of what must hold whatever the collector does
// (the test processes do not run with --expose-gc).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects everything unreachable now, weakly held objects included. */
export function collectGarbage(): void {
  gc();
}

/** A collection of the young generation only: what has died there since the last one is freed, nothing is promoted early by a full one. */
export function collectYoungGarbage(): void {
  (gc as (options: { type: 'minor' }) => void)({ type: 'minor' });
}
