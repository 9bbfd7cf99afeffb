// The test runner's pure parts (test/runner.ts): which files it finds, the order it starts them
// in, and how it reads a file's result.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { failedAssertions, findTestFiles, parseSummary, runTests, startOrder } from './runner.ts';

t.test('finds every *.test.ts under test/, in subfolders too, sorted; nothing else', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'agora-runner-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'test', 'helpers'), { recursive: true });
  mkdirSync(join(root, 'test', 'deep'), { recursive: true });
  for (const file of ['test/b.test.ts', 'test/a.test.ts', 'test/deep/c.test.ts', 'test/helpers/agora.ts', 'test/run.ts', 'test/notes.test.md']) {
    writeFileSync(join(root, file), '');
  }
  t.same(findTestFiles(root), ['test/a.test.ts', 'test/b.test.ts', 'test/deep/c.test.ts']);
});

t.test('files that set a timeout of their own (the long ones) start first, each group in name order', async (t) => {
  const sources: Record<string, string> = {
    'test/a.test.ts': "t.test('quick', …)",
    'test/b.test.ts': 't.setTimeout(300_000);',
    'test/c.test.ts': '',
    'test/d.test.ts': '// one that mentions setTimeout( in passing, not t.setTimeout\nsetTimeout(resolve, 20);',
    'test/e.test.ts': 'const x = 1;\nt.setTimeout(600_000);',
  };
  t.same(startOrder(Object.keys(sources), (file) => sources[file]!), ['test/b.test.ts', 'test/e.test.ts', 'test/a.test.ts', 'test/c.test.ts', 'test/d.test.ts']);
});

t.test("reads tap's closing summary of a file, the last one it printed", async (t) => {
  t.same(parseSummary('TAP version 14\nok 1 - x\n1..1\n# { total: 1, pass: 1 }\n# time=5ms\n'), { total: 1, pass: 1, fail: 0 });
  t.same(parseSummary('1..3\n# { total: 3, pass: 2, fail: 1 }\n'), { total: 3, pass: 2, fail: 1 });
  t.same(parseSummary('# { total: 4, pass: 2, fail: 1, todo: 1 }\n'), { total: 4, pass: 2, fail: 1 });
  t.same(parseSummary('    # { total: 9, pass: 9 }\n# { total: 2, pass: 2 }\n'), { total: 2, pass: 2, fail: 0 }, 'the top level, not an indented subtest');
  t.equal(parseSummary('TAP version 14\nok 1 - x\n'), undefined, 'none when the file ended before its summary');
  t.equal(parseSummary(''), undefined);
});

// tap's own output for a file whose subtest `outer` holds a failing subtest `inner` and a failing
// assertion of its own, and passes an assertion at the top level (trimmed of most diagnostics).
const FAILING = `TAP version 14
# Subtest: outer
    # Subtest: inner
        not ok 1 - one is two
          ---
          compare: ===
          diff: |
            --- expected
            +++ actual
            -2
            +1
          ...
        
        ok 2 - should be equal
        1..2
    not ok 1 - inner # time=62.77ms
      ---
      at:
        lineNumber: 3
      ...
    
    not ok 2 - matches
      ---
      diff: |
        -  "a": 2,
        +  "a": 1,
      ...
    
    1..2
not ok 1 - outer # time=105.202ms
  ---
  at:
    lineNumber: 2
  ...

# Subtest: passing
    ok 1 - fine
    1..1
ok 2 - passing # time=3ms

not ok 3 - at the top
1..3
# { total: 5, pass: 2, fail: 3 }
`;

t.test('names each failed assertion with the subtests it is in, and its diagnostics; a failed subtest is not repeated', async (t) => {
  t.same(failedAssertions(FAILING), [
    'not ok - outer > inner > one is two\n  compare: ===\n  diff: |\n    --- expected\n    +++ actual\n    -2\n    +1',
    'not ok - outer > matches\n  diff: |\n    -  "a": 2,\n    +  "a": 1,',
    'not ok - at the top',
  ]);
  t.same(failedAssertions('TAP version 14\nok 1 - x\n1..1\n# { total: 1, pass: 1 }\n'), [], 'none in a passing file');
  t.same(failedAssertions('not ok 1 - later # TODO not yet\nnot ok 2 - elsewhere # SKIP no browser\nnot ok 3 - real\n'), ['not ok - real'], 'a TODO or SKIP is not a failure');
});

t.test('a long diagnostic is cut, saying how much was left out', async (t) => {
  const long = `not ok 1 - big\n  ---\n${Array.from({ length: 50 }, (_, i) => `  line ${i}`).join('\n')}\n  ...\n`;
  const [only] = failedAssertions(long, 3);
  t.equal(only, 'not ok - big\n  line 0\n  line 1\n  line 2\n  … 47 more lines in the file\'s output above');
});

t.test('a passed subtest does not stay in the path of a failure after it', async (t) => {
  const output = '# Subtest: a\n    ok 1 - x\n    1..1\nok 1 - a\n\nnot ok 2 - b\n';
  t.same(failedAssertions(output), ['not ok - b']);
});

t.test('a run keeps, for each failed file, what failed: its failed assertions, or the last lines of one that crashed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'agora-runner-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'test'));
  // Files that print TAP themselves (tap is not installed in the temporary folder).
  writeFileSync(join(root, 'test/failing.test.ts'), `process.stdout.write(${JSON.stringify(FAILING)});\nprocess.exitCode = 1;\n`);
  writeFileSync(join(root, 'test/crashing.test.ts'), "console.log('TAP version 14');\nconsole.log('ok 1 - started');\nthrow new Error('boom');\n");
  writeFileSync(join(root, 'test/passing.test.ts'), "console.log('TAP version 14\\nok 1 - x\\n1..1\\n# { total: 1, pass: 1 }');\n");
  let written = '';
  const results = await runTests(findTestFiles(root), { root, jobs: 2, timeoutSeconds: 30, env: process.env, write: (text) => (written += text) });
  const byFile = Object.fromEntries(results.map((r) => [r.file, r]));
  t.same(byFile['test/failing.test.ts']?.failures, failedAssertions(FAILING));
  t.equal(byFile['test/failing.test.ts']?.fail, 3);
  const crashed = byFile['test/crashing.test.ts']!;
  t.equal(crashed.ok, false);
  t.match(crashed.reason, /exited with 1/);
  t.equal(crashed.failures?.length, 1);
  t.match(crashed.failures?.[0], /^its last lines:\n[^]*ok 1 - started[^]*# stderr: Error: boom/);
  t.equal(byFile['test/passing.test.ts']?.ok, true);
  t.equal(byFile['test/passing.test.ts']?.failures, undefined, 'nothing kept of a file that passed');
  t.match(written, /not ok \d+ - test\/crashing\.test\.ts/);
});
