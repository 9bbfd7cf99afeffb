// What the caches bounded by weight estimate their entries at (TIMELINE_CACHE_MB's feed pages,
// POST_CACHE_MB's posts and CHANNEL_PAGE_CACHE_MB's pages of them, CHANNEL_CACHE_MB's channels,
// IDEMPOTENCY_CACHE_MB's records), against what the entries take on the heap once kept in the
// cache that keeps them, its index included: the estimate must not fall below it (or the bound
// would not bound), nor waste most of the budget. Short and long texts, Latin-1 (one byte a
// character in V8) and other text (two). Each case is measured in a process of its own
// (test/helpers/cache-weight-probe.ts), with nothing else allocating meanwhile.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { CASES } from './helpers/cache-weight-probe.ts';

const run = promisify(execFile);
const probe = join(import.meta.dirname, 'helpers/cache-weight-probe.ts');

// One process per case, one after the other: about 20 s alone and 40 s on a busy machine. A file
// that sets its own timeout is started among the first (test/runner.ts), not last, where it ran
// alone at the end of the suite.
t.setTimeout(300_000);

for (const name of Object.keys(CASES)) {
  t.test(`${name}: the estimate covers what it holds, within 2.5 ×`, async (t) => {
    // Single-threaded: after a collection, no helper thread is still sweeping what the heap's
    // count includes. (One measurement of the same kind, by hand, while the machine was busy,
    // once gave 3 bytes an entry; it could not be made to happen again, with or without this.)
    const { stdout } = await run(process.execPath, ['--single-threaded-gc', probe, name]);
    const { held, estimated, passes } = JSON.parse(stdout) as { held: number; estimated: number; passes: number[] };
    t.comment(`held ${Math.round(held)} bytes each (the middle of ${passes.join(', ')}), estimated ${Math.round(estimated)}`);
    t.ok(held > 0, 'something is held');
    t.ok(estimated >= held, `estimated ${Math.round(estimated)} ≥ held ${Math.round(held)}`);
    t.ok(estimated <= 2.5 * held, `estimated ${Math.round(estimated)} ≤ 2.5 × held ${Math.round(held)}`);
  });
}
