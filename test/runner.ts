// Runs the test files, each in a Node process of its own, a few at a time, and reports them as one
// TAP stream. Each file is a tap test (`import t from 'tap'`) that runs as it is, with `node
// <file>`. This replaces tap's own runner, which loads a module-tracking hook (for coverage and
// `--changed`, neither used here) into every test process and every process a test spawns: about
// a second of CPU each, a quarter of the suite's CPU (README, "Tests").
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface RunnerOptions {
  /** The project's root: files are named relative to it. */
  root: string;
  /** How many files run at once. */
  jobs: number;
  /** Each file's default timeout (tap's TAP_TIMEOUT), in seconds; a file's `t.setTimeout` overrides it. */
  timeoutSeconds: number;
  env: NodeJS.ProcessEnv;
  /** The run's output, a line or a block at a time. */
  write(text: string): void;
}

export interface FileResult {
  file: string;
  ok: boolean;
  pass: number;
  fail: number;
  ms: number;
  /** Why the file failed, when its own output does not say (a crash, a kill, no summary). */
  reason?: string;
  /**
   * What failed, for the run's closing lines: each failed assertion with its diagnostics, or,
   * for a file that ended without one (a crash, a kill), the last lines it printed.
   */
  failures?: string[];
}

/** The test files under `dir`, recursively: every `*.test.ts`, sorted. */
export function findTestFiles(root: string, dir = 'test'): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort((a, b) => a.localeCompare(b, 'en'));
}

/**
 * The order to start files in: those that set a timeout of their own first (the long ones, which
 * start server processes; a long file started last would run alone at the end), each group in
 * name order.
 */
export function startOrder(files: readonly string[], source: (file: string) => string): string[] {
  const long = (file: string) => /\bt\.setTimeout\(/.test(source(file));
  return [...files.filter(long), ...files.filter((file) => !long(file))];
}

/** tap's closing summary of one file (`# { total: 12, pass: 11, fail: 1 }`), if it printed one. */
export function parseSummary(output: string): { total: number; pass: number; fail: number } | undefined {
  const matches = [...output.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?[^}]*\}$/gm)];
  const last = matches.at(-1);
  if (!last) return undefined;
  return { total: Number(last[1]), pass: Number(last[2] ?? 0), fail: Number(last[3] ?? 0) };
}

/**
 * The failed assertions in a file's output, each with the subtests it is in and its YAML
 * diagnostics (at most `maxLines` of them), for the run's closing lines: CI may keep only the
 * end of a long run's output, and a failure must say there what failed and how. A subtest's own
 * "not ok" (it failed because something in it did) is not repeated.
 */
export function failedAssertions(output: string, maxLines = 20): string[] {
  const lines = output.split('\n');
  const found: string[] = [];
  /** The subtests open at each indentation (4 spaces a level). */
  const path: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const depth = Math.floor((line.length - line.trimStart().length) / 4);
    const subtest = /^\s*# Subtest: (.*)$/.exec(line);
    if (subtest) {
      path.length = depth;
      path[depth] = subtest[1]!;
      continue;
    }
    const point = /^\s*(not )?ok \d+ - (.*?)(?: # time=[\d.]+m?s)?$/.exec(line);
    if (!point) continue;
    const name = point[2]!;
    // A subtest's closing line names the subtest last opened at its depth.
    const closes = path.length > depth && path[depth] === name;
    if (closes) path.length = depth;
    // A failure marked TODO or SKIP does not fail the file (tap counts it apart).
    if (!point[1] || closes || / # (?:TODO|SKIP)\b/i.test(name)) continue;
    // The YAML block that follows, if any: from "---" to "...", indented two more spaces.
    const yaml: string[] = [];
    const inner = ' '.repeat(line.length - line.trimStart().length + 2);
    if (lines[i + 1] === `${inner}---`) {
      for (let j = i + 2; j < lines.length && lines[j] !== `${inner}...`; j++) yaml.push(lines[j]!.slice(inner.length));
    }
    const shown = yaml.slice(0, maxLines);
    if (yaml.length > maxLines) shown.push(`… ${yaml.length - maxLines} more lines in the file's output above`);
    found.push([`not ok - ${[...path.slice(0, depth), name].join(' > ')}`, ...shown.map((l) => `  ${l}`)].join('\n'));
  }
  return found;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => (line ? `    ${line}` : line))
    .join('\n');
}

function runFile(file: string, options: RunnerOptions): Promise<{ output: string; code: number | null; signal: NodeJS.Signals | null; ms: number; killed: boolean }> {
  const started = Date.now();
  const child = spawn(process.execPath, [file], {
    cwd: options.root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...options.env, TAP_TIMEOUT: String(options.timeoutSeconds) },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // stderr is the file's own (a warning, a crash's stack): shown with its output.
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString().replace(/^(?!#)(?=.)/gm, '# stderr: ')));
  // tap ends a file that runs past its timeout itself; this is for one that hangs where tap
  // cannot see it (a synchronous loop, a stuck exit). A file's own `t.setTimeout` may be longer
  // than the default: the last resort waits for the longest any file sets (10 minutes).
  let killed = false;
  const lastResort = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, 10 * 60_000 + 60_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(lastResort);
      resolve({ output, code, signal, ms: Date.now() - started, killed });
    }),
  );
}

/** How many of its last lines a file that failed without a failed assertion shows again at the end. */
const LAST_LINES = 30;
/**
 * How many of a file's failed assertions the end of the run shows again (20 lines of diagnostics
 * each at most): the end of CI's log that could be read after the last failure was about 240
 * lines, which should hold more than one failed file's.
 */
const MAX_SHOWN = 5;

/** Runs `files`, `jobs` at a time; writes TAP as each file ends. */
export async function runTests(files: readonly string[], options: RunnerOptions): Promise<FileResult[]> {
  const order = startOrder(files, (file) => readFileSync(join(options.root, file), 'utf8'));
  options.write(`TAP version 14\n1..${order.length}\n`);
  const results: FileResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < order.length) {
      const file = order[next++]!;
      const { output, code, signal, ms, killed } = await runFile(file, options);
      const summary = parseSummary(output);
      // A failed assertion shows in the file's own output; these would not.
      const reason = killed ? 'killed: it ran past every timeout' : code !== 0 ? `exited with ${signal ?? code}` : !summary ? 'exited without a summary' : undefined;
      const ok = !reason && !!summary && summary.fail === 0;
      // A file that failed without a failed assertion (it crashed, or was killed) counts as one.
      const result: FileResult = { file, ok, pass: summary?.pass ?? 0, fail: ok ? 0 : Math.max(1, summary?.fail ?? 0), ms, ...(reason ? { reason } : {}) };
      if (!ok) {
        const failures = failedAssertions(output);
        if (failures.length > MAX_SHOWN) failures.splice(MAX_SHOWN, Infinity, `… and ${failures.length - MAX_SHOWN} more failed assertions, in the file's output`);
        result.failures = failures.length > 0 ? failures : [`its last lines:\n${output.trimEnd().split('\n').slice(-LAST_LINES).join('\n')}`];
      }
      results.push(result);
      options.write(`# Subtest: ${file}\n${indent(output.trimEnd())}\n${ok ? 'ok' : 'not ok'} ${results.length} - ${file} # time=${ms}ms${reason ? `\n  ---\n  reason: ${JSON.stringify(reason)}\n  ...` : ''}\n\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, order.length) }, worker));
  return results;
}
