// src/log-destination.ts: log lines gathered into batches, written when a batch fills or when
// it has waited long enough, and nothing written when nothing was logged.
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { batchedLogDestination } from '../src/log-destination.ts';

function target(t: Test) {
  const file = join(mkdtempSync(join(tmpdir(), 'agora-log-')), 'out.log');
  const fd = openSync(file, 'w');
  t.teardown(() => closeSync(fd));
  return { fd, read: () => readFileSync(file, 'utf8') };
}

async function until(check: () => boolean, ms: number): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > ms) break;
    await sleep(10);
  }
  return performance.now() - started;
}

t.test('a line shorter than a batch waits, then is written within the flush interval', async (t) => {
  const { fd, read } = target(t);
  // An interval long enough that a busy machine's late timers cannot flush before the first look.
  const destination = batchedLogDestination({ fd, minLength: 4096, flushMs: 1000 });
  destination.write('{"msg":"one"}\n');
  await sleep(30);
  t.equal(read(), '', 'not written at once');
  const waited = await until(() => read() !== '', 10_000);
  t.equal(read(), '{"msg":"one"}\n', 'then written whole');
  t.ok(waited < 10_000, `within the interval (and scheduling): ${Math.round(waited)} ms`);
});

t.test('lines that fill a batch are written without waiting for the interval', async (t) => {
  const { fd, read } = target(t);
  const destination = batchedLogDestination({ fd, minLength: 100, flushMs: 60_000 });
  const line = `{"msg":"${'x'.repeat(50)}"}\n`;
  destination.write(line);
  await sleep(30);
  t.equal(read(), '', 'one line is short of the batch: it waits');
  destination.write(line);
  await until(() => read().length >= 2 * line.length, 3000);
  t.equal(read(), line.repeat(2), 'the second fills it: both are written, long before a minute');
  await new Promise<void>((done) => destination.flush(() => done()));
});

t.test('flush writes what is gathered (at exit), and a quiet destination makes no writes', async (t) => {
  const { fd, read } = target(t);
  const destination = batchedLogDestination({ fd, minLength: 4096, flushMs: 20 });
  let writes = 0;
  destination.on('write', () => writes++);
  await sleep(120);
  t.equal(writes, 0, 'nothing logged: no empty writes on the timer');
  destination.write('{"msg":"last words"}\n');
  await new Promise<void>((done) => destination.flush(() => done()));
  t.equal(read(), '{"msg":"last words"}\n', 'flushed');
  await sleep(120);
  t.equal(writes, 1, 'one write, and none after it');
});

t.test('a line logged while a write is in flight is not left behind', async (t) => {
  const { fd, read } = target(t);
  const destination = batchedLogDestination({ fd, minLength: 4096, flushMs: 30 });
  const lines: string[] = [];
  for (let i = 0; i < 50; i++) {
    const line = `{"n":${i}}\n`;
    lines.push(line);
    destination.write(line);
    await sleep(i % 5 === 0 ? 25 : 1);
  }
  await until(() => read().length === lines.join('').length, 3000);
  t.equal(read(), lines.join(''), 'every line, in order');
});
