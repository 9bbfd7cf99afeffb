// Summarises a V8 CPU profile (from `npm run bench -- --profile`, which starts Agora with
// --cpu-prof): self time by package (or by our own folder) and the hottest functions.
//   npx node bench/profile-summary.ts bench/results/<stamp>-profile/<file>.cpuprofile
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: npx node bench/profile-summary.ts <file.cpuprofile>');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfTime = new Map<number, number>();
// A sample's time is the gap before it, capped at four times the usual gap: a process stopped
// (`bench:ab --workers` stops the worker of the side not measured with SIGSTOP) or starved of the
// CPU takes no samples meanwhile, and the whole pause was charged to the first function that ran
// after it (pg-boss's clock check, once, at 5 % of a worker's time).
const usual = [...profile.timeDeltas].sort((a, b) => a - b)[Math.floor(profile.timeDeltas.length / 2)] ?? 0;
profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + Math.min(profile.timeDeltas[i] ?? 0, 4 * usual)));
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);

function area(url: string, name: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(src\/[^/]+|bench\/[^/]+)/.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return name.startsWith('(') ? name : '(native / V8)';
}

const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, time] of selfTime) {
  const { callFrame } = byId.get(id)!;
  const key = area(callFrame.url, callFrame.functionName);
  areas.set(key, (areas.get(key) ?? 0) + time);
  const fn = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/')}:${callFrame.lineNumber + 1}`;
  functions.set(fn, (functions.get(fn) ?? 0) + time);
}
const pct = (t: number) => `${((100 * t) / total).toFixed(1)} %`;
console.log(`total sampled: ${(total / 1e6).toFixed(1)} s\n\nself time by area:`);
for (const [key, time] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(time).padStart(7)}  ${key}`);
console.log('\nhottest functions (self time):');
for (const [key, time] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(time).padStart(7)}  ${key}`);
