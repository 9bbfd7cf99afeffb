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

t.test('lines in any script are written byte for byte, in order', async (t) => {
  const { fd, read } = target(t);
  const destination = batchedLogDestination({ fd, minLength: 64, flushMs: 20 });
  const lines = Array.from({ length: 40 }, (_, i) => `{"n":${i},"msg":"${['café', '日本語のログ', 'emoji 🎉', 'plain'][i % 4]}"}\n`);
  for (const line of lines) destination.write(line);
  await new Promise<void>((done) => destination.flush(() => done()));
  await until(() => Buffer.byteLength(read()) === Buffer.byteLength(lines.join('')), 3000);
  t.equal(read(), lines.join(''));
});

t.test("a line costs its own length, not the batch's: a batch's text is not measured again for every line", async (t) => {
  const { fd, read } = target(t);
  // A batch that keeps growing: its minimum (under sonic-boom's 16 KiB a write) is not reached,
  // and nothing is flushed meanwhile.
  const destination = batchedLogDestination({ fd, minLength: 16_000, flushMs: 60_000 });
  const line = `{"level":30,"msg":"request completed","path":"/v1/posts/${'0'.repeat(36)}"}\n`;
  const count = 150; // 14,250 bytes
  const measure = Buffer.byteLength;
  let measured = 0;
  Buffer.byteLength = ((value: Parameters<typeof measure>[0], encoding?: BufferEncoding) => {
    if (typeof value === 'string') measured += value.length;
    return measure(value, encoding);
  }) as typeof Buffer.byteLength;
  try {
    for (let i = 0; i < count; i++) destination.write(line);
  } finally {
    Buffer.byteLength = measure;
  }
  // Appending each line to the batch's text and measuring the whole of it read about
  // count² / 2 lines' worth (here 75 times the batch); a line's own cost is a few times its length.
  t.ok(measured <= 3 * count * line.length, `text measured: ${measured} characters for ${count * line.length} written`);
  await new Promise<void>((done) => destination.flush(() => done()));
  await until(() => read().length === count * line.length, 3000);
  t.equal(read(), line.repeat(count), 'every line written once flushed');
});
