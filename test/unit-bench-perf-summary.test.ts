// bench/perf-summary.ts: `perf script`'s samples, summarized as µs of CPU per request by what ran.
import t from 'tap';
import { areaOf, functionOf, parsePerfScript, perfTables, sourceOf, summarisePerf } from '../bench/perf-summary.ts';

const ROOT = '/srv/agora';

// Five samples as `perf script` prints them after `perf inject --jit`, innermost frame first.
const SCRIPT = `MainThread  4242  1017.000001:    1001001 cpu-clock:ppp: 
	    7ffab3e0e366 JS:*'query file:///srv/agora/dist/persistence/sql.js:76:16+0x126 (/srv/agora/bench/results/x-perf/jitted-4242-17.so)
	    7ffab3d14b29 JS:^handler file:///srv/agora/dist/http/routes.js:103:26+0xa9 (/srv/agora/bench/results/x-perf/jitted-4242-18.so)
	         1d8f3c9 Builtins_RunMicrotasks+0x289 (/srv/agora/node_modules/node/bin/node)

MainThread  4242  1017.001002:    1001001 cpu-clock:ppp: 
	ffffffff82242009 tcp_sendmsg+0x19 ([kernel.kallsyms])
	    7f0000001000 __GI___writev+0x10 (/usr/lib/x86_64-linux-gnu/libc.so.6)
	    7ffab3e0e400 JS:+'Socket._writeGeneric node:net:935:42+0x20 (/srv/agora/bench/results/x-perf/jitted-4242-19.so)
	    7ffab3e0e500 JS:*'query /srv/agora/node_modules/pg/lib/client.js:668:8+0x20 (/srv/agora/bench/results/x-perf/jitted-4242-20.so)

V8Worker  4250  1017.002003:    1001001 cpu-clock:ppp: 
	         1a00000 v8::internal::ConcurrentMarking::RunMajor(v8::JobDelegate*)+0x40 (/srv/agora/node_modules/node/bin/node)
	         1a00100 v8::platform::DefaultJobWorker::Run()+0x10 (/srv/agora/node_modules/node/bin/node)

MainThread  4242  1017.003004:    1001001 cpu-clock:ppp: 
	         1b00000 v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>(v8::internal::FullHeapObjectSlot, v8::internal::Tagged<v8::internal::HeapObject>)+0x30 (/srv/agora/node_modules/node/bin/node)
	    7ffab3e0e600 JS:^parse /srv/agora/node_modules/@scope/parser/dist/parser.js:26:10+0x20 (/srv/agora/bench/results/x-perf/jitted-4242-21.so)

MainThread  4242  1017.004005:    1001001 cpu-clock:ppp: 
	         1c00000 uv__io_poll+0x47a (/srv/agora/node_modules/node/bin/node)
	         1c00100 uv_run+0x137 (/srv/agora/node_modules/node/bin/node)
`;

t.test("perf script's blocks become samples: the thread, then each frame's symbol and object", async (t) => {
  const samples = parsePerfScript(SCRIPT);
  t.equal(samples.length, 5);
  t.same(
    samples.map((s) => s.thread),
    ['MainThread', 'MainThread', 'V8Worker', 'MainThread', 'MainThread'],
  );
  t.same(samples[0]!.frames[0], { symbol: "JS:*'query file:///srv/agora/dist/persistence/sql.js:76:16", dso: '/srv/agora/bench/results/x-perf/jitted-4242-17.so' }, 'the offset is not part of the symbol');
  t.equal(samples[1]!.frames[0]!.dso, '[kernel.kallsyms]');
  t.equal(samples[2]!.frames[0]!.symbol, 'v8::internal::ConcurrentMarking::RunMajor(v8::JobDelegate*)', "a C++ symbol's parentheses stay");
  t.same(parsePerfScript(''), [], 'nothing from nothing');
});

t.test('a JavaScript frame names its source: our build as src/, a dependency by package, a Node built-in by module', async (t) => {
  t.equal(sourceOf("JS:*'query file:///srv/agora/dist/persistence/sql.js:76:16", ROOT), 'src/persistence/sql.ts');
  t.equal(sourceOf("JS:*'query /srv/agora/node_modules/pg/lib/client.js:668:8", ROOT), 'pg');
  t.equal(sourceOf('JS:^parse /srv/agora/node_modules/@scope/parser/dist/parser.js:26:10', ROOT), '@scope/parser');
  t.equal(sourceOf("JS:+'Socket._writeGeneric node:net:935:42", ROOT), 'node:net');
  t.equal(sourceOf('v8::internal::Heap::Scavenge()', ROOT), undefined, 'not JavaScript');
  t.equal(areaOf('src/persistence/sql.ts'), 'src/persistence', "our files by folder");
  t.equal(areaOf('src/boot.ts'), 'src/boot.ts', "src's own files by name");
  t.equal(areaOf('pg'), 'pg');
  t.equal(functionOf("JS:*'query /srv/agora/node_modules/pg/lib/client.js:668:8", ROOT), 'query (pg/lib/client.js:668)');
  t.equal(functionOf("JS:^handler file:///srv/agora/dist/http/routes.js:103:26", ROOT), 'handler (dist/http/routes.js:103)', 'the file as it ran');
  t.equal(functionOf("JS:+'Socket._writeGeneric node:net:935:42", ROOT), 'Socket._writeGeneric (node:net:935)');
});

t.test('samples by what ran: the kernel, garbage collection on any thread, the main thread; its own by the JavaScript that asked', async (t) => {
  const summary = summarisePerf(parsePerfScript(SCRIPT), ROOT);
  t.equal(summary.samples, 5);
  t.same(Object.fromEntries(summary.byKind), { 'main thread: JavaScript, V8 and Node': 2, kernel: 1, 'garbage collection': 2 });
  t.same(Object.fromEntries(summary.byThread), { MainThread: 4, V8Worker: 1 });
  // The kernel's write is charged to node:net (the innermost JavaScript), the scavenge to no area.
  t.same(Object.fromEntries(summary.byArea), { 'src/persistence': 1, 'node:net': 1, 'native, no JavaScript on the stack (the event loop, Node)': 1 });
  t.same(Object.fromEntries(summary.byFunction), { 'query (dist/persistence/sql.js:76)': 1, 'Socket._writeGeneric (node:net:935)': 1 });
});

t.test("V8's compilers are a kind of their own, on any thread, and no area's", async (t) => {
  const script = `V8Worker  4250  1017.010001:    1001001 cpu-clock:ppp: 
	         1a10000 v8::internal::compiler::turboshaft::GraphVisitor::VisitAllBlocks()+0x40 (/srv/agora/node_modules/node/bin/node)
	         1a10100 v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal()+0x10 (/srv/agora/node_modules/node/bin/node)

V8Worker  4250  1017.011001:    1001001 cpu-clock:ppp: 
	         1a20000 v8::internal::maglev::StraightForwardRegisterAllocator::AllocateRegisters()+0x40 (/srv/agora/node_modules/node/bin/node)

MainThread  4242  1017.012001:    1001001 cpu-clock:ppp: 
	         1a30000 v8::internal::Parser::ParseFunction()+0x40 (/srv/agora/node_modules/node/bin/node)
	    7ffab3e0e366 JS:*'query file:///srv/agora/dist/persistence/sql.js:76:16+0x126 (/srv/agora/bench/results/x-perf/jitted-4242-17.so)

V8Worker  4250  1017.013001:    1001001 cpu-clock:ppp: 
	         1a40000 malloc+0x40 (/usr/lib/x86_64-linux-gnu/libc.so.6)
`;
  const summary = summarisePerf(parsePerfScript(script), ROOT);
  t.same(Object.fromEntries(summary.byKind), { compilation: 3, 'V8Worker: other': 1 });
  t.same(Object.fromEntries(summary.byArea), {}, "the main thread's parse is not charged to the query that called the function");
});

t.test('the tables give µs of CPU per request: samples over the rate, over the requests served', async (t) => {
  const summary = summarisePerf(parsePerfScript(SCRIPT), ROOT);
  // 5 samples at 1,000 Hz are 5 ms; over 10 requests, 500 µs each.
  const text = perfTables(summary, { requests: 10, hz: 1000 });
  t.match(text, /5 samples at 1000 Hz over 10 requests: 500 µs of CPU per request/);
  t.match(text, /\| garbage collection \| 200\.0 \| 40\.0 % \|/, 'each kind in µs per request and as a share');
  t.match(text, /\| kernel \| 100\.0 \| 20\.0 % \|/);
  t.match(text, /\| MainThread \| 400\.0 \| 80\.0 % \|/);
  t.match(text, /\| src\/persistence \| 100\.0 \| 20\.0 % \|/);
  t.match(perfTables(summary, { requests: 0, hz: 1000 }), /over 0 requests: 5000 µs/, 'no requests: per one, not a division by zero');
});
