// bench/measure.ts: a process's CPU time from /proc, and the share of it on V8's own threads.
import t from 'tap';
import { cpuSeconds, v8ThreadsCpuSeconds } from '../bench/measure.ts';

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
