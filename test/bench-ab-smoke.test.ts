// bench/ab.ts (`npm run bench:ab`) at its smallest scale, on the tests' PostgreSQL: that it runs
// two Agoras in alternating rounds and prints each side's medians and the B/A ratios with their
// ranges, and that it says why when it cannot run. The numbers themselves are not checked.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot, serverArgs } from './helpers/server-command.ts';

// Two runs that seed, start two servers and measure (four scenarios; send-message and
// message-jobs with each side's worker), one that seeds and fails to start a side, four refused
// before seeding: 157 s under four busy loops. With the default warm-ups (3 s, four a scenario)
// and a missing checkout found only after seeding, the file took over its 300 s.
t.setTimeout(300_000);

/**
 * bench/ab.ts at its smallest scale on the tests' PostgreSQL, with short warm-ups and `extra`
 * arguments: its exit code, output and pid. A run that failed keeps its servers' logs, and their
 * ends are added to the output, so that an assertion on it shows why.
 */
async function runAb(extra: string[]): Promise<{ code: number | null; output: string; pid: number | undefined }> {
  const adminUrl = process.env.AGORA_TEST_ADMIN_URL;
  if (!adminUrl) throw new Error('run the tests with `npm test`');
  const child = spawn(
    process.execPath,
    ['bench/ab.ts', '--scale', 'smoke', '--rounds', '2', '--warmup', '0.3', '--connections', '5', '--database-url', adminUrl, '--no-pin', ...extra],
    { cwd: new URL('../', import.meta.url), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  for (const path of /^ab: the servers' output: (.+)$/m.exec(output)?.[1]?.split(' ') ?? []) {
    try {
      output += `\n--- the end of ${path}:\n${readFileSync(path, 'utf8').slice(-3000)}`;
    } catch {
      // Gone: nothing to add.
    }
  }
  return { code, output, pid: child.pid };
}

t.test('bench/ab.ts compares two Agoras in alternating rounds, and says why when it cannot', async (t) => {
  const run = (extra: string[]) => runAb(['--duration', '0.3', ...extra]);
  // B is another checkout, which runs with its own npm start's flags: here one made of this one's
  // build and dependencies, whose package.json starts Node with one flag more.
  const other = mkdtempSync(join(tmpdir(), 'agora-ab-checkout-'));
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  for (const entry of ['dist', 'node_modules']) symlinkSync(join(projectRoot, entry), join(other, entry));
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  manifest.scripts.start = manifest.scripts.start!.replace(' dist/main.js', ' --max-semi-space-size=7 dist/main.js');
  writeFileSync(join(other, 'package.json'), JSON.stringify(manifest));
  const { code, output } = await run(['--b', other, '--only', 'get-post,account-posts,feed,create-post', '--b-env', 'LOG_LEVEL=warn', '--b-node-flag=--max-semi-space-size=9']);
  t.equal(code, 0, output);
  for (const scenario of ['get-post', 'account-posts', 'feed', 'create-post']) {
    const section = output.slice(output.indexOf(`${scenario}, 2 alternating rounds`));
    t.ok(output.includes(`${scenario}, 2 alternating rounds of 0.3 s, 5 connections:`), `${scenario} is measured`);
    t.match(section, /\n {2}A \([^)]*\): \d+ req\/s, \d+ µs CPU\/request \(V8's threads \d+\), p99 [\d.]+ ms \([\d.]+–[\d.]+\)\n/, `${scenario}: A's medians`);
    t.match(
      section,
      /\n {2}B \([^)]*, LOG_LEVEL=warn --max-semi-space-size=9\): \d+ req\/s, \d+ µs CPU\/request \(V8's threads \d+\), p99 [\d.]+ ms \([\d.]+–[\d.]+\)\n/,
      `${scenario}: B's medians, with its setting and Node flag`,
    );
    for (const [, p99, low, high] of section.slice(0, section.indexOf('B/A')).matchAll(/p99 ([\d.]+) ms \(([\d.]+)–([\d.]+)\)/g)) {
      t.ok(Number(low) <= Number(p99) && Number(p99) <= Number(high), `${scenario}: a side's median p99 (${p99} ms) within its rounds' range (${low}–${high})`);
    }
    for (const [, all, v8] of section.slice(0, section.indexOf('B/A')).matchAll(/(\d+) µs CPU\/request \(V8's threads (\d+)\)/g)) {
      t.ok(Number(v8) <= Number(all), `${scenario}: V8's threads' share (${v8} µs) is part of the CPU per request (${all} µs)`);
    }
    const ratios = /\n {2}B\/A: CPU\/request ([\d.]+) \(([\d.]+)–([\d.]+)\); req\/s ([\d.]+) \(([\d.]+)–([\d.]+)\); p99 ([\d.]+) \(([\d.]+)–([\d.]+)\)\n/.exec(section);
    t.ok(ratios, `${scenario}: B/A ratios`);
    const [, cpu, cpuMin, cpuMax, rps, rpsMin, rpsMax, p99, p99Min, p99Max] = (ratios ?? []).map(Number);
    t.ok(cpuMin! <= cpu! && cpu! <= cpuMax! && rpsMin! <= rps! && rps! <= rpsMax! && rpsMin! > 0, `${scenario}: each median within its range`);
    t.ok(p99Min! <= p99! && p99! <= p99Max! && p99Min! > 0, `${scenario}: the p99 ratio's median within its range, and above 0`);
  }

  // Each side's Node flags: its own checkout's npm start flags, then its extra ones.
  const startFlags = serverArgs().slice(0, -1).join(' ');
  const lines = output.split('\n');
  t.ok(lines.includes(`A (${projectRoot}): node ${startFlags}`), "A runs with this checkout's npm start flags");
  t.ok(lines.includes(`B (${other}): node ${startFlags} --max-semi-space-size=7 --max-semi-space-size=9`), "B with its own checkout's, then its extra flag");

  // A checkout that is not there, or has no build, fails the run before anything is seeded.
  const missing = await run(['--b', '/nonexistent-agora-checkout']);
  t.equal(missing.code, 1, 'a side that cannot start fails the run');
  t.match(missing.output, /^ab: Agora B \(\/nonexistent-agora-checkout\) could not start: ENOENT/m, 'and says which, and why');
  t.notMatch(missing.output, /the servers' output/, 'before any server was started');
  const unbuilt = mkdtempSync(join(tmpdir(), 'agora-ab-unbuilt-'));
  t.teardown(() => rmSync(unbuilt, { recursive: true, force: true }));
  writeFileSync(join(unbuilt, 'package.json'), JSON.stringify(manifest));
  const noBuild = await run(['--a', unbuilt]);
  t.equal(noBuild.code, 1, 'a side without a build fails the run');
  t.match(noBuild.output, /^ab: Agora A \([^)]*\) could not start: it has no build \(dist\/main\.js\): run npm run build there$/m, 'and says so');
  // A Node flag reaches the side's Node: one Node does not know stops that side from starting.
  const badFlag = await run(['--b-node-flag=--no-such-node-flag']);
  t.equal(badFlag.code, 1, 'a side whose Node refuses its flag fails the run');
  t.match(badFlag.output, /^ab: Agora B \([^)]*\) exited with 9/m, 'Node exits with 9 (invalid argument)');
  const kept = /^ab: the servers' output: (.+)$/m.exec(badFlag.output)?.[1]?.split(' ') ?? [];
  t.equal(kept.length, 2, "and keeps the servers' output to read: A's and B's");
  t.match(badFlag.output, /no-such-node-flag/, "B's says why");
  for (const path of kept) rmSync(path, { force: true });
  const wrong = await run(['--only', 'nope']);
  t.equal(wrong.code, 2, 'an unknown scenario is refused');
  t.match(wrong.output, /--only takes get-post, account-posts, feed/);
});

t.test("bench/ab.ts --workers measures each side's worker with its server: the jobs a side's requests cause run in its own worker, counted in its CPU; message-jobs measures the workers alone", async (t) => {
  const run = (extra: string[]) => runAb(['--duration', '0.5', ...extra]);
  const { code, output, pid } = await run(['--only', 'send-message,message-jobs', '--workers', '--jobs', '100']);
  t.equal(code, 0, output);
  t.ok(output.includes("send-message, 2 alternating rounds of 0.5 s, 5 connections; CPU: each server's and its worker's, until its requests' jobs have run:"), 'the scenario, measured with each side\'s worker');
  for (const side of ['A', 'B']) {
    const line = new RegExp(`\\n {2}${side} \\([^)]*\\): \\d+ req/s, (\\d+) µs CPU/request \\(V8's threads \\d+; its worker's (\\d+)\\), p99 [\\d.]+ ms \\([\\d.]+–[\\d.]+\\)\\n`).exec(output);
    t.ok(line, `${side}'s medians, with its worker's share`);
    const [, all, worker] = (line ?? []).map(Number);
    t.ok(worker! > 0, `${side}'s worker ran the notification jobs of its messages (${worker} µs a message)`);
    t.ok(worker! < all!, `and its share is part of the CPU per request (${all} µs)`);
  }
  t.match(output, /\n {2}B\/A: CPU\/request [\d.]+ \([\d.]+–[\d.]+\); req\/s [\d.]+ \([\d.]+–[\d.]+\); p99 [\d.]+ \([\d.]+–[\d.]+\)\n/);

  const jobs = output.slice(output.indexOf('message-jobs, 2 alternating rounds of 100 jobs'));
  t.ok(jobs.startsWith("message-jobs, 2 alternating rounds of 100 jobs; CPU: each side's worker's:"), 'message-jobs is measured');
  for (const side of ['A', 'B']) {
    const line = new RegExp(`\\n {2}${side} \\([^)]*\\): \\d+ jobs/s, (\\d+) µs CPU/job \\(V8's threads (\\d+)\\)\\n`).exec(jobs);
    t.ok(line, `${side}'s worker's medians`);
    const [, all, v8] = (line ?? []).map(Number);
    t.ok(all! > 0 && v8! <= all!, `${side}: ${all} µs a job, V8's threads ${v8} of it`);
  }
  t.match(jobs, /\n {2}B\/A: CPU\/job [\d.]+ \([\d.]+–[\d.]+\); jobs\/s [\d.]+/);
  t.same(processesOn(`agora_ab_${pid}`), [], "and none of the run's processes is left, its workers (stopped between rounds) included");

  const refused = await run(['--only', 'message-jobs']);
  t.equal(refused.code, 2, 'message-jobs without --workers is refused');
  t.match(refused.output, /message-jobs measures each side's worker: run it with --workers/);
});

/** The processes whose environment names `database` (bench/ab.ts's children: DATABASE_URL). */
function processesOn(database: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`/${database}`);
    } catch {
      return false;
    }
  });
}
