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
