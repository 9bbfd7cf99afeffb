// The benchmark harness at its smallest scale, on the tests' PostgreSQL: that it runs end to
// end (seed, both servers, every scenario, no non-2xx) and writes its table and JSON. The
// numbers themselves are not checked: a smoke run is far too short to mean anything.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const SCENARIOS = [
  'feed-small-data', 'get-post', 'account-posts', 'feed', 'channel-posts', 'channel-page-1',
  'create-post', 'replay-post', 'patch-post', 'list-notifications', 'list-conversations', 'list-messages', 'send-message', 'sessions',
];

t.test('npm run bench --scale smoke produces the table and the JSON with every scenario', async (t) => {
  const adminUrl = process.env.AGORA_TEST_ADMIN_URL;
  if (!adminUrl) throw new Error('run the tests with `npm test`');
  const out = mkdtempSync(join(tmpdir(), 'agora-bench-smoke-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    ['bench/run.ts', '--scale', 'smoke', '--duration', '0.3', '--database-url', adminUrl, '--out', out, '--no-pin'],
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
  const report = JSON.parse(readFileSync(join(out, json!), 'utf8')) as { scenarios: { scenario: string }[]; targets: unknown[] };
  for (const scenario of SCENARIOS) {
    t.match(markdown, new RegExp(`^\\| ${scenario} \\|`, 'm'), `the table has ${scenario}`);
    t.ok(report.scenarios.some((s) => s.scenario === scenario), `the JSON has ${scenario}`);
  }
  t.match(markdown, /^\| channel-page-\d+ \|/m, 'the table has the deep page');
  t.ok(report.targets.length > 0, 'the targets are evaluated');
  // Measured where the build has GET /v1/stream; otherwise the section says why not.
  t.match(markdown, /^## Live stream \(Agora alone: the baseline has no stream\)$/m, 'the table has the live stream section');
  t.ok('stream' in report, 'the JSON has the live stream');
});
