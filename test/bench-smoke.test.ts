// The benchmark harness at its smallest scale, on the tests' PostgreSQL: that it runs end to
// end (seed, both servers, every scenario in alternating rounds, no non-2xx) and writes its
// table and JSON with each ratio's spread over the rounds and each target judged on it. The
// numbers themselves are not checked: a smoke run is far too short to mean anything.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { serverArgs } from './helpers/server-command.ts';

// The whole harness (seeding, four server starts, every scenario, the live stream's measures):
// about 85 s alone, past tap's default of 120 beside the other test files on a busy machine, and
// over 200 s on one busy with two whole runs of the tests (bench:ab's smoke run is in
// bench-ab-smoke.test.ts, with a budget of its own).
t.setTimeout(300_000);

const SCENARIOS = [
  'feed-small-data', 'get-post', 'account-posts', 'feed', 'feed-1000-friends', 'channel-posts', 'channel-page-1',
  'create-post', 'feed-while-posting', 'replay-post', 'patch-post', 'list-notifications', 'list-conversations', 'list-messages', 'send-message', 'sessions',
];

t.test('npm run bench --scale smoke produces the table and the JSON with every scenario', async (t) => {
  const adminUrl = process.env.AGORA_TEST_ADMIN_URL;
  if (!adminUrl) throw new Error('run the tests with `npm test`');
  const out = mkdtempSync(join(tmpdir(), 'agora-bench-smoke-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    ['bench/run.ts', '--scale', 'smoke', '--duration', '0.2', '--rounds', '2', '--connections', '10', '--database-url', adminUrl, '--out', out, '--no-pin', '--agora-node-flag=--max-semi-space-size=9'],
    { cwd: new URL('../', import.meta.url), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  t.equal(code, 0, output);

  const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  t.ok(json, 'a JSON file is written');
  type Spread = { median: number; q1: number; q3: number; min: number; max: number; n: number };
  type Visibility = { posts: number; samples: number; missing: number; p99Ms: number; roundP99Ms: Spread };
  const report = JSON.parse(readFileSync(join(out, json!), 'utf8')) as {
    rounds: number;
    scenarios: { scenario: string; throughput: Spread; p99: Spread; serverCpu: Spread; visibility?: { agora: Visibility; baseline: Visibility } }[];
    targets: { target: string; spread: Spread; bound: number; direction: '≥' | '≤' | '<'; status: string }[];
    runs: { scenario: string; server: string; round: number; serverCpuUs: number; v8ThreadsCpuUs: number; walBytes: number | null }[];
    agoraCommand: { nodeFlags: string[] };
  };
  // Agora runs with npm start's Node flags, then the extra one this run was given; the report says so.
  const flags = [...serverArgs().slice(0, -1), '--max-semi-space-size=9'];
  t.same(report.agoraCommand.nodeFlags, flags, "the JSON gives Agora's Node flags: npm start's, then the extra one");
  t.ok(markdown.includes(`Agora's Node flags: \`${flags.join(' ')}\`.`), 'and so does the table');
  t.equal(report.rounds, 2, 'two rounds');
  for (const scenario of SCENARIOS) {
    t.match(markdown, new RegExp(`^\\| ${scenario} \\|`, 'm'), `the table has ${scenario}`);
    const s = report.scenarios.find((x) => x.scenario === scenario);
    t.ok(s, `the JSON has ${scenario}`);
    for (const ratio of ['throughput', 'p99', 'serverCpu'] as const) {
      const spread = s![ratio];
      t.equal(spread.n, 2, `${scenario}: ${ratio} ratio over both rounds`);
      // Requests/s are never 0 (a run with no answer fails); a p99 or a CPU time may round to 0.
      t.ok((ratio === 'throughput' ? spread.min > 0 : spread.min >= 0) && spread.min <= spread.q1 && spread.q1 <= spread.median && spread.median <= spread.q3 && spread.q3 <= spread.max, `${scenario}: ${ratio} spread is ordered`);
    }
    // Alternating: the baseline goes first in the second round.
    const order = report.runs.filter((r) => r.scenario === scenario).map((r) => `${r.round}:${r.server}`);
    t.same(order, ['0:agora', '0:baseline', '1:baseline', '1:agora'], `${scenario}: rounds alternate which server goes first`);
  }
  t.match(markdown, /^\| channel-page-\d+ \|/m, 'the table has the deep page');
  // V8's threads' CPU is measured apart, and is part of the server's.
  t.match(markdown, /\| CPU µs\/request, server \+ PostgreSQL: Agora \/ baseline \| of the server's, V8's threads: Agora \/ baseline \|/, "the table shows V8's threads' share");
  t.ok(
    report.runs.every((r) => Number.isInteger(r.v8ThreadsCpuUs) && r.v8ThreadsCpuUs >= 0 && r.v8ThreadsCpuUs <= r.serverCpuUs),
    "every run's V8 threads' CPU is within the server's",
  );
  // The WAL each write wrote: a post is at least its row and its index entries (hundreds of bytes).
  for (const server of ['agora', 'baseline']) {
    const creates = report.runs.filter((r) => r.scenario === 'create-post' && r.server === server);
    t.ok(creates.length === 2 && creates.every((r) => Number.isInteger(r.walBytes) && r.walBytes! >= 200), `create-post: ${server}'s WAL per request is measured (${creates.map((r) => r.walBytes).join(', ')} bytes)`);
  }
  const walSection = /^## WAL per request \(writes\)$([\s\S]*?)^## /m.exec(markdown)?.[1] ?? '';
  t.match(walSection, /^\| create-post \| \d+ \| \d+ \| [\d.]+/m, 'the table has the WAL section, create-post in it, in whole bytes');
  t.notMatch(walSection, /^\| get-post \|/m, 'and no read');
  const posting = report.scenarios.find((s) => s.scenario === 'feed-while-posting')!.visibility!;
  for (const server of ['agora', 'baseline'] as const) {
    t.ok(posting[server].posts > 0 && posting[server].samples > 0, `feed-while-posting: ${server}'s posts were seen in friends' feeds`);
    t.equal(posting[server].missing, 0, `feed-while-posting: every post of ${server} was seen`);
  }
  t.match(markdown, /^## A new post reaching its friends’ feeds under load/m, 'the table has the visibility section');
  t.match(markdown, /^\| feed-1000-friends \/ feed, mean latency \|/m, 'the table has the cost with friends');
  for (const name of ['GET /feed: req/s ≥ 2 × the baseline', 'feed-1000-friends / feed (50 friends)', 'feed-while-posting: a new post', 'create-post: req/s ≥ 0.8', 'replay-post: req/s ≥ 0.9', 'patch-post: req/s ≥ 0.9', 'list-messages: p99 ≤ 1.5', "send-message: Agora's CPU per request ≤ 2", 'Agora RSS under every load but sign-ins']) {
    t.ok(report.targets.some((x) => x.target.startsWith(name)), `the target "${name}" is evaluated`);
  }
  // Met only when the whole spread clears the bound, not met when none of it does.
  for (const target of report.targets) {
    const { min, max } = target.spread;
    const clears = (v: number) => (target.direction === '≥' ? v >= target.bound : target.direction === '≤' ? v <= target.bound : v < target.bound);
    const expected = clears(min) && clears(max) ? 'met' : !clears(min) && !clears(max) ? 'not met' : 'straddles';
    t.equal(target.status, expected, `${target.target}: ${target.status} for ${min}–${max} against ${target.direction} ${target.bound}`);
  }
  t.ok(report.targets.some((x) => x.target === 'zero errors' && x.status === 'met'), 'zero errors is met');
  t.match(markdown, /^\| target \| median \| IQR \| min–max \| status \|$/m, 'the targets table shows the spreads');
  // Measured where the build has GET /v1/stream; otherwise the section says why not.
  t.match(markdown, /^## Live stream \(Agora alone: the baseline has no stream\)$/m, 'the table has the live stream section');
  t.ok('stream' in report, 'the JSON has the live stream');
});
