// Summarises a sampling heap profile taken over a scenario's rounds (`npm run bench -- --alloc`):
// where a server's allocations came from, in bytes per request.
//
// The profile is V8's sampling heap profiler's, started through the inspector with the objects
// that minor and major garbage collections freed included: so it counts what was allocated, not
// what was still alive when it stopped (what `node --heap-prof` writes). What a request allocates
// is what the scavenger has to deal with: garbage collection's share of a server's CPU (`--perf`)
// grows with it.
//
// A node of the profile is a function with the bytes sampled in it (`selfSize`). A native function
// with no source (`JSON.stringify`, a `Map`'s growth, V8's API) is charged to the JavaScript that
// called it, as `--perf`'s summary charges the kernel's and V8's work.
import { areaOf } from './perf-summary.ts';

/**
 * What `HeapProfiler.startSampling` is asked: every allocation (`promotedOnly` false: the objects
 * collections freed too), or only what outlived young-generation collections (promoted to the
 * old generation, or alive when sampling stops): what fills the old generation.
 */
export function samplingParams(intervalBytes: number, promotedOnly: boolean) {
  return { samplingInterval: intervalBytes, includeObjectsCollectedByMinorGC: !promotedOnly, includeObjectsCollectedByMajorGC: true };
}

export interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  /** Bytes sampled in this function itself. */
  selfSize: number;
  children: HeapProfileNode[];
}

export interface AllocSummary {
  /** Bytes sampled in all. */
  bytes: number;
  /** By the area (a package, a Node built-in, one of Agora's folders) of the JavaScript that allocated. */
  byArea: Map<string, number>;
  /** By function, `name (file:line)`. */
  byFunction: Map<string, number>;
}

/**
 * A profile node's source: a Node built-in, a package, a file of the project (dist/ shown as src/),
 * JavaScript compiled from a string (fast-json-stringify's serializers: no file, but a line), or
 * none (native code: no file, no line).
 */
export function allocSourceOf(frame: HeapProfileNode['callFrame'], root: string): string | undefined {
  const { url } = frame;
  if (url === '') return frame.lineNumber >= 0 ? 'JavaScript (no source)' : undefined;
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (dependency) return dependency[1];
  if (!path.startsWith('/')) return 'JavaScript (no source)';
  const base = root.endsWith('/') ? root : `${root}/`;
  const relative = path.startsWith(base) ? path.slice(base.length) : path;
  return relative.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
}

/** `name (file:line)`, the file as it ran (a dependency's from its package, Agora's from the checkout). */
function functionName(frame: HeapProfileNode['callFrame'], root: string): string {
  const base = root.endsWith('/') ? root : `${root}/`;
  const path = frame.url.replace(/^file:\/\//, '');
  const where = path === '' ? '?' : path.startsWith('node:') ? path : path.replace(/^.*\/node_modules\//, '').replace(base, '');
  return `${frame.functionName || '(anonymous)'} (${where}:${frame.lineNumber + 1})`;
}

/** Bytes by area and by function; a node without a source is charged to its nearest caller with one. */
export function summariseAllocations(head: HeapProfileNode, root: string): AllocSummary {
  const summary: AllocSummary = { bytes: 0, byArea: new Map(), byFunction: new Map() };
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  const stack: { node: HeapProfileNode; charged?: { area: string; name: string } }[] = [{ node: head }];
  while (stack.length > 0) {
    const { node, charged: inherited } = stack.pop()!;
    const source = allocSourceOf(node.callFrame, root);
    const charged = source ? { area: areaOf(source), name: functionName(node.callFrame, root) } : inherited;
    if (node.selfSize > 0) {
      summary.bytes += node.selfSize;
      add(summary.byArea, charged?.area ?? 'native, no JavaScript on the stack', node.selfSize);
      add(summary.byFunction, charged ? charged.name : `${node.callFrame.functionName || '(native)'} (no JavaScript on the stack)`, node.selfSize);
    }
    for (const child of node.children) stack.push({ node: child, charged });
  }
  return summary;
}

/** Markdown: bytes per request (`requests` served while sampling), in all, by area and by function, and each one's share. */
export function allocTables(summary: AllocSummary, options: { requests: number; top?: number }): string {
  const { requests, top = 15 } = options;
  const perRequest = (n: number) => String(Math.round(n / Math.max(1, requests)));
  const share = (n: number) => `${((100 * n) / Math.max(1, summary.bytes)).toFixed(1)} %`;
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, n]) => `| ${key.replace(/\|/g, '\\|')} | ${perRequest(n)} | ${share(n)} |`)
      .join('\n');
  const head = (what: string) => `| ${what} | bytes/request | share |\n|---|---:|---:|`;
  return [
    `${perRequest(summary.bytes)} bytes allocated per request, over ${requests} requests.`,
    '',
    head('by the area of the JavaScript that allocated'),
    rows(summary.byArea),
    '',
    head('… by function'),
    rows(summary.byFunction),
    '',
  ].join('\n');
}
