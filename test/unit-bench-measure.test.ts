// bench/measure.ts: a process's CPU time from /proc, and the share of it on V8's own threads.
import t from 'tap';
import { cpuNow, cpuSeconds, cpuSince, pinningAvailable, pinToCore, v8ThreadsCpuSeconds } from '../bench/measure.ts';

t.test("V8's threads' CPU: part of the process's, and it grows while the old generation is collected", async (t) => {
  const before = { all: cpuSeconds(process.pid), v8: v8ThreadsCpuSeconds(process.pid) };
  // Old-generation collections are marked on V8's worker threads: keep about 100 MB alive and
  // replace it piece by piece until several full collections have run (V8's threads' CPU is
  // counted in ticks of 10 ms).
  const kept: unknown[][] = Array.from({ length: 1000 }, () => []);
  const started = performance.now();
  let v8 = before.v8;
  for (let i = 0; performance.now() - started < 10_000; i++) {
    kept[i % kept.length] = Array.from({ length: 2000 }, (_, j) => ({ i, j, text: `object ${i} ${j}` }));
    if (i % 1000 === 999) {
      v8 = v8ThreadsCpuSeconds(process.pid);
      if (v8 - before.v8 >= 0.05) break;
    }
  }
  const after = { all: cpuSeconds(process.pid), v8: v8ThreadsCpuSeconds(process.pid) };
  t.ok(after.v8 - before.v8 >= 0.05, `V8's threads used CPU while the old generation was collected (${(after.v8 - before.v8).toFixed(2)} s)`);
  t.ok(after.v8 <= after.all, `and their CPU (${after.v8.toFixed(2)} s) is part of the process's (${after.all.toFixed(2)} s)`);
});

t.test('a process that is gone: no CPU', async (t) => {
  t.equal(cpuSeconds(2 ** 30), 0);
  t.equal(v8ThreadsCpuSeconds(2 ** 30), 0);
});

t.test("over a window, V8's threads' CPU is read within the process's and never passes it", async (t) => {
  // Both are counted in ticks truncated per thread and per process: over short windows, the
  // threads' delta could pass the process's by a tick or two (the bench's smoke run once
  // reported it so). cpuSince caps it, and reads the threads inside the process's window.
  // On one core, with the main thread and V8's sharing it as in the bench, about one window in
  // forty of this size had the threads above the process when both were read plainly.
  if (pinningAvailable()) t.ok(pinToCore(process.pid, 0), "this test's process (all its threads) runs on one core");
  let windows = 0;
  const started = performance.now();
  let garbage: unknown[] = [];
  while (performance.now() - started < 2_000) {
    const before = cpuNow(process.pid);
    for (let i = 0; i < 10; i++) garbage = Array.from({ length: 5000 }, (_, j) => ({ i, j, garbage }));
    const used = cpuSince(process.pid, before);
    windows++;
    if (!(used.v8Threads >= 0 && used.v8Threads <= used.all)) {
      t.fail(`window ${windows}: V8's threads ${used.v8Threads} s, the process ${used.all} s`);
      return;
    }
  }
  t.pass(`${windows} windows, V8's threads' CPU within the process's in each`);
});
