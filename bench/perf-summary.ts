// Summarises an on-CPU profile taken by `perf` (`npm run bench -- --perf`, which records each
// server during each scenario's rounds): where a server's CPU went, in microseconds per request.
//
// Unlike a V8 CPU profile (`--profile`), which samples the main thread by the wall clock, `perf`
// samples every thread of the process only while it runs on a core: the kernel's work for the
// process (its sockets, its writes), V8's own threads (garbage collection's helpers, compilation)
// and the main thread's JavaScript, with the JIT's symbols from the jitdump V8 writes under
// `--perf-prof`. Time a process spends preempted (by PostgreSQL on the same pinned core) is no
// sample at all, where a wall-clock profile charges it to whatever was on the stack.
//
//   npx node bench/perf-summary.ts <perf script output> [--requests N] [--hz F] [--root DIR]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface PerfFrame {
  symbol: string;
  dso: string;
}

export interface PerfSample {
  /** The thread's name (`MainThread`, `V8Worker`, `libuv-worker`, …). */
  thread: string;
  /** Innermost first. */
  frames: PerfFrame[];
}

/** `perf script`'s text (with call chains, `-g`): one sample per blank-line-separated block. */
export function parsePerfScript(text: string): PerfSample[] {
  const samples: PerfSample[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    const head = lines[0];
    if (!head) continue;
    const thread = /^(.+?)\s+\d+(?:\/\d+)?\s+\[?\d*\]?\s*[\d.]+:/.exec(head)?.[1]?.trim();
    if (!thread) continue;
    const frames: PerfFrame[] = [];
    for (const line of lines.slice(1)) {
      const frame = /^\s*[0-9a-f]+\s+(.*?)(?:\+0x[0-9a-f]+)?\s+\((.*)\)\s*$/.exec(line);
      if (frame) frames.push({ symbol: frame[1]!, dso: frame[2]! });
    }
    samples.push({ thread, frames });
  }
  return samples;
}

/** V8's garbage collector, on any thread: its entry points in V8's C++ symbols. */
const GC = /v8::internal::(Heap::|Scavenger|ScavengerCollector|MarkCompactCollector|MinorMarkSweep|ConcurrentMarking|IncrementalMarking|MarkingVisitor|MarkingBarrier|Sweeper|Evacuat|MemoryAllocator|PagedSpace|ArrayBufferSweeper|GCTracer|HeapObject::SizeFromMap)|Builtins?_?RecordWrite/;
/**
 * V8's compilers: TurboFan and Turboshaft (`compiler::`), Maglev, Sparkplug (`baseline::`), and the
 * parser and bytecode generator that run when a function is first called. Mostly on V8's threads
 * (concurrent compilation), the rest on the main thread. A server warms up for as long as new code
 * paths keep getting hot: a short run charges its requests for it.
 */
const COMPILATION = /v8::internal::(compiler::|maglev::|baseline::|Compiler::|OptimizingCompileDispatcher|interpreter::BytecodeGenerator|Parser::|ParserBase|Scanner::)/;

/** A JavaScript frame's source file, relative to `root` (Agora's dist/ shown as src/), or a Node built-in's name. */
export function sourceOf(symbol: string, root: string): string | undefined {
  if (!symbol.startsWith('JS:')) return undefined;
  const builtin = / (node:[\w/_-]+)/.exec(symbol);
  if (builtin) return builtin[1];
  const path = /(?:file:\/\/)?(\/[^\s:]+\.[cm]?[jt]s):\d+/.exec(symbol)?.[1];
  if (!path) return 'JavaScript (no source)';
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (dependency) return dependency[1];
  const base = root.endsWith('/') ? root : `${root}/`;
  const relative = path.startsWith(base) ? path.slice(base.length) : path;
  return relative.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
}

/** A JavaScript frame as `name (file:line)`, the file as it ran. */
export function functionOf(symbol: string, root: string): string {
  const body = symbol.replace(/^JS:[*^+~']*/, '');
  const at = /\s(?=(?:file:\/\/)?\/|node:)/.exec(body);
  const name = (at ? body.slice(0, at.index) : body).trim() || '(anonymous)';
  const builtin = / (node:[\w/_-]+:\d+)/.exec(body)?.[1];
  const path = /(?:file:\/\/)?(\/[^\s:]+\.[cm]?[jt]s:\d+)/.exec(body)?.[1];
  const base = root.endsWith('/') ? root : `${root}/`;
  // The file as it ran (Agora's build in dist/, a dependency under node_modules/), and the line in it.
  const where = builtin ?? (path ? path.replace(/^.*\/node_modules\//, '').replace(base, '') : '?');
  return `${name} (${where})`;
}

/** A source file's area: a dependency, a Node built-in, or one of Agora's folders. */
export function areaOf(source: string): string {
  if (!source.startsWith('src/') && !source.startsWith('bench/')) return source;
  const parts = source.split('/');
  return parts.length > 2 ? parts.slice(0, -1).join('/') : source;
}

export interface PerfSummary {
  samples: number;
  /** Samples by what ran: the kernel, the garbage collector, V8's compilers, JavaScript and V8's runtime, other native code. */
  byKind: Map<string, number>;
  /** Samples by thread. */
  byThread: Map<string, number>;
  /** The main thread's samples outside the garbage collector and the compilers, by the area of the innermost JavaScript frame (the kernel's and V8's work charged to the JavaScript that asked for it). */
  byArea: Map<string, number>;
  /** The same, by the innermost JavaScript function. */
  byFunction: Map<string, number>;
}

function add(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export function summarisePerf(samples: readonly PerfSample[], root: string): PerfSummary {
  const summary: PerfSummary = { samples: samples.length, byKind: new Map(), byThread: new Map(), byArea: new Map(), byFunction: new Map() };
  for (const { thread, frames } of samples) {
    add(summary.byThread, thread);
    const leaf = frames[0];
    const gc = frames.some((frame) => GC.test(frame.symbol));
    const compiling = !gc && frames.some((frame) => COMPILATION.test(frame.symbol));
    const kernel = leaf?.dso === '[kernel.kallsyms]';
    const kind = kernel ? 'kernel' : gc ? 'garbage collection' : compiling ? 'compilation' : thread === 'MainThread' ? 'main thread: JavaScript, V8 and Node' : `${thread}: other`;
    add(summary.byKind, kernel && gc ? 'garbage collection' : kernel && compiling ? 'compilation' : kind);
    if (thread !== 'MainThread' || gc || compiling) continue;
    const js = frames.find((frame) => frame.symbol.startsWith('JS:'));
    const source = js ? sourceOf(js.symbol, root) : undefined;
    add(summary.byArea, source ? areaOf(source) : kernel ? 'kernel, no JavaScript on the stack (the event loop)' : 'native, no JavaScript on the stack (the event loop, Node)');
    if (js) add(summary.byFunction, functionOf(js.symbol, root));
  }
  return summary;
}

/** Markdown: each bucket in µs per request (`requests` served while `perf` sampled at `hz`), and its share. */
export function perfTables(summary: PerfSummary, options: { requests: number; hz: number; top?: number }): string {
  const { requests, hz, top = 15 } = options;
  const micros = (n: number) => ((n / hz) * 1e6) / Math.max(1, requests);
  const share = (n: number) => `${((100 * n) / Math.max(1, summary.samples)).toFixed(1)} %`;
  const rows = (map: Map<string, number>, limit: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([key, n]) => `| ${key.replace(/\|/g, '\\|')} | ${micros(n).toFixed(1)} | ${share(n)} |`)
      .join('\n');
  const head = (what: string) => `| ${what} | µs/request | share of the samples |\n|---|---:|---:|`;
  return [
    `${summary.samples} samples at ${hz} Hz over ${requests} requests: ${micros(summary.samples).toFixed(0)} µs of CPU per request.`,
    '',
    head('what ran'),
    rows(summary.byKind, 10),
    '',
    head('thread'),
    rows(summary.byThread, 6),
    '',
    head('main thread, outside garbage collection and compilation, by the innermost JavaScript frame\'s area'),
    rows(summary.byArea, top),
    '',
    head('… by function'),
    rows(summary.byFunction, top),
    '',
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { requests: { type: 'string', default: '1' }, hz: { type: 'string', default: '999' }, root: { type: 'string', default: resolve(import.meta.dirname, '..') }, top: { type: 'string', default: '25' } },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: npx node bench/perf-summary.ts <perf script output> [--requests N] [--hz F] [--root DIR]');
    process.exit(2);
  }
  const summary = summarisePerf(parsePerfScript(readFileSync(file, 'utf8')), values.root!);
  console.log(perfTables(summary, { requests: Number(values.requests), hz: Number(values.hz), top: Number(values.top) }));
}
