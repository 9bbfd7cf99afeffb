// bench/profile-summary.ts: a V8 CPU profile summarised as self time by area and by function, each
// sample's time capped at four times the usual gap between samples (a process stopped or starved
// takes no samples, and the whole pause would be charged to the first function after it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { projectRoot } from './helpers/server-command.ts';

const frame = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });

/** The script's output for `profile`, written to a file of its own. */
function summarise(t: Test, profile: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'agora-profile-summary-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'test.cpuprofile');
  writeFileSync(file, JSON.stringify(profile));
  const run = spawnSync(process.execPath, ['bench/profile-summary.ts', file], { cwd: projectRoot, encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  return run.stdout;
}

// (root) 1; a function of Agora's (src/) 2; pg's query 3; a native one 4.
const NODES = [
  { id: 1, callFrame: frame('(root)', '', -1), children: [2, 3, 4] },
  { id: 2, callFrame: frame('handler', 'file:///srv/agora/src/http/routes.ts', 9) },
  { id: 3, callFrame: frame('query', 'file:///srv/agora/node_modules/pg/lib/client.js', 99) },
  { id: 4, callFrame: frame('(garbage collector)', '', -1) },
];

t.test('self time by area and by function, in shares of the time sampled', async (t) => {
  // 6 samples of 100 µs: handler 3, pg 2, the collector 1.
  const out = summarise(t, { nodes: NODES, samples: [2, 2, 3, 2, 3, 4], timeDeltas: [100, 100, 100, 100, 100, 100] });
  t.match(out, /^total sampled: 0\.0 s$/m);
  t.match(out, /^ {3}50\.0 % {2}src\/http$/m, "Agora's folder");
  t.match(out, /^ {3}33\.3 % {2}pg$/m, 'a package');
  t.match(out, /^ {3}16\.7 % {2}\(garbage collector\)$/m, "V8's own entries by name");
  t.match(out, /^ {3}50\.0 % {2}handler src\/http\/routes\.ts:10$/m, 'a function of ours, its path from src/, with its line (1-based)');
  t.match(out, /^ {3}33\.3 % {2}query pg\/lib\/client\.js:100$/m, "a package's function, its path from the package");
});

t.test("a sample's time is capped at four times the usual gap", async (t) => {
  // The query's one sample comes after a pause of 1 s (the process stopped): it counts 4 × 100 µs,
  // not 1,000,000, so the handler's 4 samples keep half of the time.
  const out = summarise(t, { nodes: NODES, samples: [2, 2, 2, 2, 3], timeDeltas: [100, 100, 100, 100, 1_000_000] });
  t.match(out, /^ {3}50\.0 % {2}src\/http$/m, "the handler's share as if there had been no pause");
  t.match(out, /^ {3}50\.0 % {2}pg$/m, "and the query's, capped");
  t.notMatch(out, /100\.0 %|99\.\d %/, 'the pause is charged to no one');
});
