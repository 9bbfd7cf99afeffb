// The test runner's pure parts (test/runner.ts): which files it finds, the order it starts them
// in, and how it reads a file's result.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { findTestFiles, parseSummary, startOrder } from './runner.ts';

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
