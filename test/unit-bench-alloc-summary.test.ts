// bench/alloc-summary.ts and bench/inspector.ts: a sampling heap profile, summarized as bytes
// allocated per request by area and by function; and the inspector it is taken through, on a Node
// process of its own.
import t, { type Test } from 'tap';
import { allocSourceOf, allocTables, samplingParams, summariseAllocations, type HeapProfileNode } from '../bench/alloc-summary.ts';
import { inspectorAddress } from '../bench/inspector.ts';

const ROOT = '/srv/agora';

const node = (functionName: string, url: string, lineNumber: number, selfSize: number, ...children: HeapProfileNode[]): HeapProfileNode => ({
  callFrame: { functionName, url, lineNumber },
  selfSize,
  children,
});

// (root) → handler (Agora's dist) → query (pg) → slice (node:buffer); handler → JSON.stringify
// (native, no source: charged to handler); a generated serializer (a line, no file); a top-level native.
const PROFILE = node(
  '(root)',
  '',
  -1,
  0,
  node(
    'handler',
    'file:///srv/agora/dist/http/routes.js',
    102,
    1000,
    node('query', 'file:///srv/agora/node_modules/pg/lib/client.js', 667, 3000, node('slice', 'node:buffer', 645, 4000)),
    node('stringify', '', -1, 2000),
    node('anonymous2', '', 114, 500),
  ),
  node('(V8 API)', '', -1, 100),
);

t.test("a node's source: a built-in, a package, Agora's file as src/, or none for native code", async (t) => {
  const at = (url: string, lineNumber = 0) => allocSourceOf({ functionName: 'f', url, lineNumber }, ROOT);
  t.equal(at('node:buffer'), 'node:buffer');
  t.equal(at('file:///srv/agora/node_modules/@scope/pkg/dist/x.js'), '@scope/pkg');
  t.equal(at('file:///srv/agora/node_modules/pg/lib/client.js'), 'pg');
  t.equal(at('file:///srv/agora/dist/services/posts/posts-service.js'), 'src/services/posts/posts-service.ts');
  t.equal(at('file:///srv/agora/bench/baseline/server.ts'), 'bench/baseline/server.ts');
  t.equal(at('', 114), 'JavaScript (no source)', "fast-json-stringify's generated functions have a line but no file");
  t.equal(at('', -1), undefined, 'native code has neither');
});

t.test('bytes by area and by function; native code is charged to its caller', async (t) => {
  const summary = summariseAllocations(PROFILE, ROOT);
  t.equal(summary.bytes, 10_600);
  t.same(Object.fromEntries(summary.byArea), {
    'src/http': 3000,
    pg: 3000,
    'node:buffer': 4000,
    'JavaScript (no source)': 500,
    'native, no JavaScript on the stack': 100,
  });
  t.equal(summary.byFunction.get('handler (dist/http/routes.js:103)'), 3000, "the handler's own bytes and JSON.stringify's");
  t.equal(summary.byFunction.get('query (pg/lib/client.js:668)'), 3000);
  t.equal(summary.byFunction.get('slice (node:buffer:646)'), 4000);
  t.equal(summary.byFunction.get('(V8 API) (no JavaScript on the stack)'), 100);
});

t.test('the tables give bytes per request and shares, largest first', async (t) => {
  const text = allocTables(summariseAllocations(PROFILE, ROOT), { requests: 10, top: 2 });
  t.match(text, /^1060 bytes allocated per request, over 10 requests\./);
  const areaRows = text.split('\n').filter((line) => /^\| (node:buffer|src\/http|pg) \|/.test(line));
  t.same(areaRows.slice(0, 2), ['| node:buffer | 400 | 37.7 % |', '| src/http | 300 | 28.3 % |'], 'the top two areas, the ties in the order met');
  t.notMatch(text, /\| pg \|/, 'only the top rows');
});

t.test("the inspector's address is read from the server's output", async (t) => {
  t.equal(inspectorAddress('Debugger listening on ws://127.0.0.1:43117/1c3096ce-7a1e-45b5-a7c9-bca43d2c836b\nFor help, see: https://nodejs.org/en/docs/inspector\n'), 'ws://127.0.0.1:43117/1c3096ce-7a1e-45b5-a7c9-bca43d2c836b');
  t.equal(inspectorAddress('listening at http://127.0.0.1:3000\n'), undefined);
});

/** A Node process running `script` under --inspect, and its inspector (both closed at the test's end). */
async function inspected(t: Test, script: string) {
  const { spawn } = await import('node:child_process');
  const { openInspector } = await import('../bench/inspector.ts');
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  const address = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = inspectorAddress(output);
      if (found) resolve(found);
    });
    child.once('exit', () => reject(new Error(`exited before its inspector listened: ${output}`)));
  });
  const inspector = await openInspector(address);
  t.teardown(() => inspector.close());
  return inspector;
}

t.test("a Node process's inspector samples its allocations: what --alloc asks of each server", async (t) => {
  // Allocates steadily until it is killed.
  const inspector = await inspected(t, 'const kept = []; setInterval(() => { kept.push({ at: Date.now(), text: "x".repeat(64) }); if (kept.length > 1000) kept.length = 0; }, 1);');
  await inspector.call('HeapProfiler.enable');
  await inspector.call('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { profile } = await inspector.call<{ profile: { head: HeapProfileNode } }>('HeapProfiler.stopSampling');
  const summary = summariseAllocations(profile.head, '/nowhere');
  t.ok(summary.bytes > 0, `allocations were sampled: ${summary.bytes} bytes`);
  await t.rejects(inspector.call('HeapProfiler.noSuchMethod'), /inspector: /, "a method the inspector refuses rejects with its message");
});

t.test('--promoted samples only what outlived young-generation collections', async (t) => {
  // Makes garbage that dies young, steadily, and keeps 200 KB of it for good.
  const inspector = await inspected(t, 'const kept = []; let young; setInterval(() => { for (let i = 0; i < 2000; i++) young = { i, text: "y".repeat(32) }; if (kept.length < 2000) kept.push({ text: "k".repeat(64) }); }, 1);');
  await inspector.call('HeapProfiler.enable');
  const sampled = async (promotedOnly: boolean) => {
    await inspector.call('HeapProfiler.startSampling', samplingParams(4096, promotedOnly));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const { profile } = await inspector.call<{ profile: { head: HeapProfileNode } }>('HeapProfiler.stopSampling');
    return summariseAllocations(profile.head, '/nowhere').bytes;
  };
  const all = await sampled(false);
  const promoted = await sampled(true);
  t.ok(all > 0 && promoted > 0, `both sampled: ${all} and ${promoted} bytes`);
  t.ok(promoted * 5 < all, `what outlived its young generation is a small part of what was allocated (${promoted} of ${all} bytes)`);
});
