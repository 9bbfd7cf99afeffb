// `npm run bench`: seeds a data set into a fresh database, starts Agora (as deployed) and the
// bare Fastify + pg baseline on it, runs every scenario against both in many short alternating
// rounds (A B, B A, A B … after a warm-up), and writes a Markdown table and a JSON file: per
// scenario the median of the per-round ratios (Agora's round over the adjacent baseline round)
// with their spread, and each target met only when the whole spread clears it.
// See bench/README.md for the method. Any non-2xx response during a measured run fails the run.
//
//   node bench/run.ts [--scale smoke|small|default|large] [--duration s] [--warmup s]
//                     [--rounds n] [--connections n] [--database-url url] [--out dir]
//                     [--no-pin] [--profile] [--perf] [--alloc [--promoted]] [--only scenario,scenario…] [--agora-env KEY=VALUE]…
//                     [--agora-node-flag FLAG]… (after `npm start`'s own: a V8 flag given twice takes this value)
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, release } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { persistence } from '../src/domains/index.ts';
import { migrate } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/persistence/embedded-postgres.ts';
import { databaseUrl as databaseUrlOn, freePort, runAdmin } from '../test/helpers/postgres.ts';
import { serverArgs, serverEnv } from '../test/helpers/server-command.ts';
import { allocTables, samplingParams, summariseAllocations, type AllocSummary, type HeapProfileNode } from './alloc-summary.ts';
import { inspectorAddress, openInspector } from './inspector.ts';
import { parsePerfScript, perfTables, summarisePerf, type PerfSummary } from './perf-summary.ts';
import { cpuNow, cpuSeconds, cpuSince, domainEventJobsDrained, median, pinningAvailable, pinToCore, quantile, statFields, TICKS_PER_SECOND } from './measure.ts';
import { conversationsOfSessions, dropTimelines, email, finishSeeding, PASSWORD, SCALES, seedBase, seedConversations, seedNotifications, seedPosts, seedSessions, wideAccountIndexes, wideFriendCounts, type Session } from './seed.ts';
import { fanout, hasStream, openStreams, postJson, type FanoutResult, type OpenStream } from './stream.ts';
import { probeVisibility, type ProbeGroup, type VisibilityResult } from './visibility.ts';

const root = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: 'default' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string', default: '50' },
    'database-url': { type: 'string' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
    'no-pin': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
    promoted: { type: 'boolean', default: false },
    only: { type: 'string' },
    'agora-env': { type: 'string', multiple: true, default: [] },
    'agora-node-flag': { type: 'string', multiple: true, default: [] },
  },
});
/** Extra Node or V8 flags for Agora (repeatable): what a flag costs, or a trace (`--trace-gc`) in its log. */
const agoraNodeFlags = args['agora-node-flag']!;
/** Extra environment for Agora (KEY=VALUE, repeatable): to measure what a setting costs. */
const agoraEnv = Object.fromEntries(
  args['agora-env']!.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--agora-env wants KEY=VALUE, got "${pair}"`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
/** Scenarios to run (all when empty): for measuring one change quickly. */
const only = new Set((args.only ?? '').split(',').map((n) => n.trim()).filter(Boolean));
const selected = (name: string) => only.size === 0 || only.has(name) || (name.startsWith('channel-page-') && only.has('channel-page-n'));

const scaleName = args.scale!;
const scale = SCALES[scaleName];
if (!scale) {
  console.error(`bench: unknown --scale ${scaleName}; one of ${Object.keys(SCALES).join(', ')}`);
  process.exit(2);
}
// Many short rounds rather than a few long ones: on a shared machine the load of others comes
// and goes over seconds, and a ratio of two adjacent short rounds sees the same conditions.
const TIMING: Record<string, { duration: number; warmup: number; rounds: number }> = {
  smoke: { duration: 0.5, warmup: 0, rounds: 2 },
  small: { duration: 2, warmup: 1, rounds: 5 },
  default: { duration: 3, warmup: 2, rounds: 6 },
  large: { duration: 3, warmup: 2, rounds: 6 },
};
const duration = Number(args.duration ?? TIMING[scaleName]!.duration);
const warmup = Number(args.warmup ?? TIMING[scaleName]!.warmup);
const rounds = Number(args.rounds ?? TIMING[scaleName]!.rounds);
const connections = Number(args.connections);
const settle = scaleName === 'smoke' ? 100 : 500; // ms between runs
const outDir = resolve(args.out!);
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const log = (message: string) => console.log(`bench: ${message}`);

// ---------------------------------------------------------------------------------------------
// CPU pinning: the servers and PostgreSQL on core 0, this process (the load generator) on core 1.

const canPin = !args['no-pin'] && pinningAvailable();

function pin(pid: number, core: number): void {
  if (canPin && !pinToCore(pid, core)) log(`could not pin pid ${pid} to core ${core}`);
}

// ---------------------------------------------------------------------------------------------
// On-CPU profiles (`--perf`): Linux's `perf` samples each server, every thread and the kernel's
// work for it, only while it runs, during each scenario's warm-up and rounds; V8 writes its JIT's
// symbols (`--perf-prof`) for `perf inject`. bench/perf-summary.ts turns each into µs per request.

const PERF_HZ = 999;
const perfDir = join(outDir, `${stamp}-perf`);
const runFile = promisify(execFile);
if (args.perf) {
  const version = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) throw new Error("--perf needs Linux's perf (Debian: apt-get install linux-perf)");
  mkdirSync(perfDir, { recursive: true });
}
/** perf's cache of the objects it saw (the JIT's, thousands: hundreds of MB), here rather than in ~/.debug, and emptied after each use. */
const perfCache = join(perfDir, 'buildid');
/**
 * Node's flags for a server under `--perf`: V8's symbols for `perf inject`, and interpreted frames
 * on the native stack. `--perf-prof` also turns V8's log on, which went to an `isolate-…-v8.log`
 * in the checkout; it goes beside the profiles, one per process.
 */
const perfNodeFlags = args.perf
  ? ['--perf-prof', `--perf-prof-path=${perfDir}`, '--interpreted-frames-native-stack', '--no-logfile-per-isolate', `--logfile=${join(perfDir, 'v8-%p.log')}`]
  : [];

/** A profile of one server over one scenario (`--perf`, `--alloc`), and the requests it served meanwhile. */
interface ProfileReport<Summary> {
  scenario: string;
  server: Server['name'];
  requests: number;
  summary: Summary;
}
type PerfReport = ProfileReport<PerfSummary>;
const perfReports: PerfReport[] = [];

/** Starts sampling `server`; `finish` stops, symbolizes, summarizes (per request) and keeps the report. */
async function startPerf(scenario: string, server: Server): Promise<{ finish(requests: number): Promise<void> }> {
  const data = join(perfDir, `${scenario}-${server.name}.data`);
  const child = spawn('perf', ['--buildid-dir', perfCache, 'record', '-N', '-k', '1', '-F', String(PERF_HZ), '-g', '-p', String(server.pid), '-o', data], { stdio: 'ignore' });
  pin(child.pid!, 1);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await sleep(500); // attached before the load starts
  return {
    async finish(requests) {
      child.kill('SIGINT');
      await exited;
      const symbolized = join(perfDir, `${scenario}-${server.name}.jit.data`);
      await runFile('perf', ['--buildid-dir', perfCache, 'inject', '--jit', '-i', data, '-o', symbolized], { cwd: perfDir, maxBuffer: 64 * 2 ** 20 });
      const { stdout } = await runFile('perf', ['--buildid-dir', perfCache, 'script', '-i', symbolized], { cwd: perfDir, maxBuffer: 2 ** 30 });
      const summary = summarisePerf(parsePerfScript(stdout), root);
      writeFileSync(join(perfDir, `${scenario}-${server.name}.md`), `# ${scenario}: ${server.name}\n\n${perfTables(summary, { requests, hz: PERF_HZ, top: 30 })}`);
      // The injected copy and the JIT's code objects it wrote are made again from the .data and the dump.
      rmSync(symbolized, { force: true });
      rmSync(perfCache, { recursive: true, force: true });
      for (const file of readdirSync(perfDir)) if (/^jitted-\d+-\d+\.so$/.test(file)) rmSync(join(perfDir, file), { force: true });
      perfReports.push({ scenario, server: server.name, requests, summary });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Allocation profiles (`--alloc`): V8's sampling heap profiler, through each server's inspector,
// over each scenario's warm-up and rounds, counting the objects garbage collection freed too (what
// was allocated, not what stayed alive). bench/alloc-summary.ts turns each into bytes per request.

/**
 * Under `--alloc --promoted`: only what outlived young-generation collections (what was promoted
 * to the old generation, or still lived when sampling stopped): what fills the old generation
 * between its collections.
 */
const allocPromotedOnly = args.promoted;
if (allocPromotedOnly && !args.alloc) throw new Error('--promoted is a kind of --alloc: give both');
/** One sample for about every this many bytes allocated (V8's default). */
const ALLOC_SAMPLING_BYTES = 32_768;
const allocDir = join(outDir, `${stamp}-alloc`);
if (args.alloc) mkdirSync(allocDir, { recursive: true });
/** Node's flag for a server under `--alloc`: its inspector, on a port of its own choosing (printed in its log). */
const allocNodeFlags = args.alloc ? ['--inspect=127.0.0.1:0'] : [];

type AllocReport = ProfileReport<AllocSummary>;
const allocReports: AllocReport[] = [];

/** Starts sampling `server`'s allocations; `finish` stops, summarizes (per request) and keeps the report. */
async function startAlloc(scenario: string, server: Server): Promise<{ finish(requests: number): Promise<void> }> {
  if (!server.inspector) throw new Error(`${server.name} printed no inspector address; see its log`);
  const inspector = await openInspector(server.inspector);
  await inspector.call('HeapProfiler.enable');
  await inspector.call('HeapProfiler.startSampling', samplingParams(ALLOC_SAMPLING_BYTES, allocPromotedOnly));
  return {
    async finish(requests) {
      const { profile } = await inspector.call<{ profile: { head: HeapProfileNode } }>('HeapProfiler.stopSampling');
      await inspector.call('HeapProfiler.disable');
      inspector.close();
      const summary = summariseAllocations(profile.head, root);
      writeFileSync(join(allocDir, `${scenario}-${server.name}.md`), `# ${scenario}: ${server.name}\n\n${allocTables(summary, { requests, top: 40 })}`);
      allocReports.push({ scenario, server: server.name, requests, summary });
    },
  };
}

/** Under --alloc: per scenario, the bytes each server allocated per request, by area (details in <stamp>-alloc/). */
function allocMarkdown(reports: readonly AllocReport[]): string {
  if (reports.length === 0) return '';
  const lines = [
    allocPromotedOnly ? '## Promoted allocations (`--alloc --promoted`)' : '## Allocation profiles (`--alloc`)',
    '',
    `V8's sampling heap profiler sampled each server's allocations (one sample about every ${ALLOC_SAMPLING_BYTES} bytes), ` +
      (allocPromotedOnly
        ? 'only the objects that outlived young-generation collections (`--promoted`: promoted to the old generation, or alive when sampling stopped), '
        : 'the objects garbage collection freed included, ') +
      "over each scenario's warm-up and rounds; bytes allocated per request served then, by the area of " +
      'the JavaScript that allocated (native code charged to its caller). The inspector and the sampling cost CPU: the table above is not ' +
      `comparable with a run without \`--alloc\`. Each server's areas and functions: \`${allocDir}/<scenario>-<server>.md\`.`,
    '',
  ];
  for (const scenario of [...new Set(reports.map((r) => r.scenario))]) {
    const [agora, baseline] = (['agora', 'baseline'] as const).map((name) => reports.find((r) => r.scenario === scenario && r.server === name));
    const perRequest = (r: AllocReport | undefined, bytes: number | undefined) => (r && bytes !== undefined ? Math.round(bytes / Math.max(1, r.requests)) : 0);
    const areas = [...new Set([...(agora?.summary.byArea.keys() ?? []), ...(baseline?.summary.byArea.keys() ?? [])])]
      .sort((a, b) => perRequest(agora, agora?.summary.byArea.get(b)) + perRequest(baseline, baseline?.summary.byArea.get(b)) - perRequest(agora, agora?.summary.byArea.get(a)) - perRequest(baseline, baseline?.summary.byArea.get(a)))
      .slice(0, 15);
    lines.push(
      `### ${scenario}`,
      '',
      '| area | Agora bytes/request | baseline bytes/request |',
      '|---|---:|---:|',
      ...areas.map((area) => `| ${area.replace(/\|/g, '\\|')} | ${perRequest(agora, agora?.summary.byArea.get(area))} | ${perRequest(baseline, baseline?.summary.byArea.get(area))} |`),
      `| **all** | **${perRequest(agora, agora?.summary.bytes)}** | **${perRequest(baseline, baseline?.summary.bytes)}** |`,
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

if (canPin) pin(process.pid, 1);

// ---------------------------------------------------------------------------------------------
// The database.

let embedded: EmbeddedDatabase | undefined;
let embeddedParent: string | undefined;
let embeddedDataDir: string | undefined;
let adminUrl = args['database-url'] ?? process.env.DATABASE_URL;
if (!adminUrl) {
  embeddedParent = mkdtempSync(join(tmpdir(), 'agora-bench-'));
  chmodSync(embeddedParent, 0o755);
  embeddedDataDir = join(embeddedParent, 'postgres');
  embedded = await startEmbeddedPostgres({ dataDir: embeddedDataDir, port: await freePort(), database: 'postgres' });
  adminUrl = embedded.url;
  log(`embedded PostgreSQL in ${embeddedDataDir}`);
}
const database = `agora_bench_${process.pid}`;
const databaseUrl = databaseUrlOn(adminUrl, database);

const admin = (sql: string) => runAdmin(adminUrl!, sql);

const children: ChildProcess[] = [];
let db: pg.Client | undefined;

async function cleanUp(): Promise<void> {
  await db?.end().catch(() => {});
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await admin(`drop database if exists "${database}" with (force)`).catch(() => {});
  await embedded?.stop();
  if (embeddedParent) rmSync(embeddedParent, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The servers.

interface Server {
  /** `agora-stream`: a fresh Agora for the live stream's measurements (measureStream). */
  name: 'agora' | 'baseline' | 'agora-stream';
  origin: string;
  pid: number;
  /** The inspector's address, for a server started with `--inspect` (`--alloc`). */
  inspector?: string;
}

async function startServer(name: Server['name'], script: string, env: Record<string, string>, ready: RegExp, nodeArgs: string[] = []): Promise<Server> {
  // Output goes straight to a file, as `node … > file` would: the harness never reads a pipe.
  const logPath = join(outDir, `${stamp}-${name}.log`);
  const fd = openSync(logPath, 'w');
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: root, stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH, ...env } });
  closeSync(fd);
  children.push(child);
  let exited = false;
  child.once('exit', () => (exited = true));
  // A server starts in about 3 s here; on a machine busy with other work (npm test runs the smoke
  // bench beside other test files) it has taken over 30. A server that exits is reported at once.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const output = readFileSync(logPath, 'utf8');
    const match = ready.exec(output);
    if (match) {
      pin(child.pid!, 0);
      return { name, origin: match[1]!, pid: child.pid!, inspector: inspectorAddress(output) };
    }
    if (exited) throw new Error(`${name} exited at start-up; see ${logPath}`);
    if (Date.now() > deadline) throw new Error(`${name} did not start within 120 s; see ${logPath}`);
    await sleep(100);
  }
}

/** Under --perf: per scenario, each server's CPU per request by what ran (details in <stamp>-perf/). */
function perfMarkdown(reports: readonly PerfReport[]): string {
  if (reports.length === 0) return '';
  const lines = [
    '## On-CPU profiles (`--perf`)',
    '',
    `Linux's \`perf\` sampled each server at ${PERF_HZ} Hz while it ran on a core, every thread and the kernel's work for it, over each ` +
      "scenario's warm-up and rounds; µs of CPU per request served then. Sampling and V8's symbols cost CPU too: compare the two columns, " +
      `not these figures with the table above. Each server's areas and functions: \`${perfDir}/<scenario>-<server>.md\`.`,
    '',
  ];
  for (const scenario of [...new Set(reports.map((r) => r.scenario))]) {
    const [agora, baseline] = (['agora', 'baseline'] as const).map((name) => reports.find((r) => r.scenario === scenario && r.server === name));
    const perRequest = (r: PerfReport | undefined, n: number | undefined) => (r && n !== undefined ? ((n / PERF_HZ) * 1e6) / Math.max(1, r.requests) : 0);
    const kinds = [...new Set([...(agora?.summary.byKind.keys() ?? []), ...(baseline?.summary.byKind.keys() ?? [])])];
    const total = (r: PerfReport | undefined) => perRequest(r, r?.summary.samples);
    lines.push(
      `### ${scenario}`,
      '',
      '| what ran | Agora µs/request | baseline µs/request |',
      '|---|---:|---:|',
      ...kinds
        .sort((a, b) => perRequest(agora, agora?.summary.byKind.get(b) ?? 0) - perRequest(agora, agora?.summary.byKind.get(a) ?? 0))
        .map((kind) => `| ${kind} | ${perRequest(agora, agora?.summary.byKind.get(kind) ?? 0).toFixed(1)} | ${perRequest(baseline, baseline?.summary.byKind.get(kind) ?? 0).toFixed(1)} |`),
      `| **all** | **${total(agora).toFixed(1)}** | **${total(baseline).toFixed(1)}** |`,
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Measuring.

interface Run {
  scenario: string;
  server: Server['name'];
  round: number;
  requests: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  /** Mean latency, ms (autocannon's p50 and p99 are whole milliseconds). */
  meanMs: number;
  errors: number;
  peakRssMb: number;
  /** CPU time per request (user + system) of the server process and of the embedded PostgreSQL's processes, µs. */
  serverCpuUs: number;
  /** Of serverCpuUs, what V8's own threads used (garbage collection's helpers, background compilation), µs per request. */
  v8ThreadsCpuUs: number;
  databaseCpuUs: number | null;
  /**
   * WAL the database server wrote per request over the round, bytes (the insert position's
   * advance, so the whole cluster's: the other server is idle meanwhile). Agora's fan-out pass of
   * the round's last ~100 ms may land in the next round's.
   */
  walBytes: number | null;
  /** `feed-while-posting`: what the prober saw during the run. */
  visibility?: VisibilityResult;
  /** Agora: the domain events' jobs still to run when the load ended, and how long they took to (ms). */
  drained?: { jobs: number; ms: number };
}

interface Scenario {
  name: string;
  kind: 'read' | 'write' | 'sessions' | 'depth' | 'size' | 'visibility';
  describe: string;
  /** autocannon's request definition for one server. */
  request(server: Server): autocannon.Request;
  before?(server: Server): Promise<void>;
  /** Runs beside the load for as long as it runs (`feed-while-posting`'s prober). */
  during?(server: Server, signal: AbortSignal): Promise<VisibilityResult>;
}

// The targets (issue 16; bench/README.md, "Targets"). Up here: the reporting functions below
// the run are called from it, and a const must be initialized before that.
/** The scenarios that are reads (GET), with issue 16's targets for every read. */
const GETS: Scenario['kind'][] = ['read', 'depth', 'size'];
/** Write scenarios with a throughput target, ratio to the baseline. */
const WRITE_TARGETS: Record<string, number> = { 'create-post': 0.8, 'replay-post': 0.9, 'patch-post': 0.9 };
/** Write scenarios with the CPU target for writes. */
const WRITES_FOR_CPU = ['create-post', 'replay-post', 'patch-post', 'send-message'];
type Status = 'met' | 'not met' | 'straddles';
const STATUS_TEXT: Record<Status, string> = { met: 'met', 'not met': '**not met**', straddles: '*straddles*' };

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The embedded PostgreSQL's postmaster, whose children are its backends and workers. */
let postmasterPid: number | undefined;
/**
 * CPU time of the embedded PostgreSQL so far: the postmaster's own, its live children's, and
 * that of the children that have exited (cutime, cstime), such as backends whose connection a
 * pool closed during the run.
 */
function databaseCpuSeconds(): number | null {
  if (postmasterPid === undefined) return null;
  const fields = statFields(postmasterPid);
  const exited = fields.length === 0 ? 0 : (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND; // cutime, cstime
  return exited + [postmasterPid, ...childrenOf(postmasterPid)].reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** Below this many WAL bytes a request of the baseline's (a replay writes none), the WAL ratio is not shown. */
const MIN_WAL_FOR_RATIO = 100;

/** The database server's WAL insert position, in bytes from the start; null before the bench's connection is open. */
async function walPosition(): Promise<number | null> {
  if (!db) return null;
  const { rows } = await db.query<{ at: string }>("select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::text as at");
  return Number(rows[0]!.at);
}

async function measure(scenario: Scenario, server: Server, seconds: number, round: number): Promise<Run> {
  await sleep(settle); // lets the previous run's last requests finish
  await scenario.before?.(server);
  const cpuBefore = { server: cpuNow(server.pid), database: databaseCpuSeconds() };
  const walBefore = await walPosition();
  let peak = rssMb(server.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.pid))), 100);
  const stopProbe = new AbortController();
  const probing = scenario.during?.(server, stopProbe.signal);
  probing?.catch(() => {}); // awaited below; a failure must not go unhandled while the load runs
  // autocannon ends a timed run on its sampling tick, one second by default: a run shorter than
  // a second (smoke) samples every 50 ms so that it ends on time, and its rate is timed here.
  const short = seconds < 1;
  const startedAt = performance.now();
  const result = await autocannon({
    url: server.origin,
    connections,
    duration: seconds,
    ...(short ? { sampleInt: 50 } : {}),
    requests: [scenario.request(server)],
  });
  const elapsed = (performance.now() - startedAt) / 1000;
  stopProbe.abort();
  const visibility = await probing;
  // The domain events' jobs that Agora's requests caused (a message's notification) run in its
  // own process after the requests, one at a time per queue: under send-message's load they fall
  // behind. The round's CPU is read once they have all run, so that it counts them, rather than
  // leaving them to run during the baseline's next round (unmeasured, and on its core).
  const drained = server.name === 'agora' && db ? await domainEventJobsDrained(db, 120_000) : undefined;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(server.pid));
  const serverCpu = cpuSince(server.pid, cpuBefore.server);
  const databaseAfter = databaseCpuSeconds();
  const walAfter = await walPosition();
  const perRequestUs = (seconds: number) => Math.round((seconds * 1e6) / Math.max(result.requests.total, 1));
  const bad = result.non2xx + result.errors + result.timeouts;
  // A run that got no answer at all may have hung: its requests were all still waiting when it
  // ended. On a busy machine a smoke run of half a second can also end before the first answer
  // (a create's first requests prime its caches): it is run again, longer, and only a server
  // that answers nothing for seconds is said to have hung.
  if (round >= 0 && result.requests.total === 0 && seconds < 5) return measure(scenario, server, Math.max(seconds * 4, 2), round);
  if (round >= 0 && result.requests.total === 0) {
    throw new Error(`scenario ${scenario.name} on ${server.name}: no response in ${seconds} s from ${connections} connections (the server hung)`);
  }
  if (round >= 0 && bad > 0) {
    const codes = Object.entries(result.statusCodeStats ?? {})
      .map(([code, stat]) => `${code}: ${(stat as { count: number }).count}`)
      .join(', ');
    throw new Error(
      `scenario ${scenario.name} on ${server.name}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts (status codes ${codes})`,
    );
  }
  return {
    scenario: scenario.name,
    server: server.name,
    round,
    requests: result.requests.total,
    requestsPerSec: short ? result.requests.total / elapsed : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    meanMs: result.latency.mean,
    errors: bad,
    peakRssMb: Math.round(peak),
    serverCpuUs: perRequestUs(serverCpu.all),
    v8ThreadsCpuUs: perRequestUs(serverCpu.v8Threads),
    databaseCpuUs: databaseAfter === null || cpuBefore.database === null ? null : perRequestUs(databaseAfter - cpuBefore.database),
    walBytes: walAfter === null || walBefore === null ? null : Math.round((walAfter - walBefore) / Math.max(result.requests.total, 1)),
    ...(visibility ? { visibility } : {}),
    ...(drained ? { drained } : {}),
  };
}

/**
 * What a long-running server has in its caches: each server reads every account's first page of
 * posts once (so every author's summary has been asked for), the feed twice with every
 * session's token (the first read of a feed makes its reader's home timeline, whose
 * notification evicts the page read with it; the second is kept, as a reader's page is on a
 * server that has served it before), and each post get-post picks from once (POST_CACHE_MB
 * keeps them). Without it, the first measured rounds of a scenario are Agora filling its caches
 * (bench/README.md, "Warm caches"). Not measured.
 */
async function prime(servers: Server[], accountIds: readonly string[], tokens: readonly string[], postIds: readonly string[] = []): Promise<void> {
  const feeds = tokens.map((token) => ({ path: '/v1/feed', headers: { authorization: `Bearer ${token}` } }));
  const requests = [...accountIds.map((id) => ({ path: `/v1/accounts/${id}/posts` })), ...feeds, ...feeds, ...postIds.map((id) => ({ path: `/v1/posts/${id}` }))];
  for (const server of servers) await primeWith(server, requests, 'caches');
}

/** Sends each of `requests` once to `server`, 10 at a time; any answer but a 2xx fails the run. */
async function primeWith(server: Server, requests: readonly Partial<autocannon.Request>[], what: string): Promise<void> {
  let next = 0;
  const result = await autocannon({
    url: server.origin,
    connections: 10,
    amount: requests.length,
    requests: [{ setupRequest: (req) => ({ ...req, ...requests[next++ % requests.length]! }) }],
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`priming ${server.name}'s ${what}: ${result.non2xx} non-2xx responses (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} timeouts`);
  }
}

/**
 * What a long-running Agora holds of the conversations send-message writes to: each session asks
 * once what it may do in each of its conversations (OPTIONS, whose Allow says whether it may
 * post: its participants, and in a conversation of two whether they are still friends), as a
 * client opening a conversation would. Without it each conversation's first message in the
 * scenario looks up both (two statements before its transaction): at default scale about 4,000
 * conversations, a third of the scenario's messages, most of them in its first rounds. The
 * baseline keeps nothing in memory and has no OPTIONS routes, so only Agora is asked. Not
 * measured.
 */
async function primeConversations(agora: Server, conversations: readonly { token: string; conversationId: string }[]): Promise<void> {
  const requests = conversations.map(({ token, conversationId }) => ({
    method: 'OPTIONS' as const,
    path: `/v1/conversations/${conversationId}/messages`,
    headers: { authorization: `Bearer ${token}` },
  }));
  await primeWith(agora, requests, 'conversations');
}

/**
 * Both servers give the same first feed page (the same posts in the same order) to each of
 * `tokens`: a run that compared a feed missing posts with a complete one would mean nothing.
 */
async function sameFeeds(servers: Server[], tokens: readonly string[]): Promise<void> {
  const ids = async (server: Server, token: string) => {
    const response = await fetch(`${server.origin}/v1/feed`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`${server.name}: GET /v1/feed answered ${response.status}`);
    const page = (await response.json()) as { data: { id: string }[] };
    return page.data.map((p) => p.id).join(' ');
  };
  for (const token of tokens) {
    const pages = await Promise.all(servers.map((server) => ids(server, token)));
    if (pages.some((page) => page !== pages[0])) {
      throw new Error(`the servers' feeds differ for one reader:\n${servers.map((s, i) => `${s.name}: ${pages[i]}`).join('\n')}`);
    }
  }
}

interface StreamReport {
  /** False when this build of Agora has no live stream (GET /v1/stream answered 404). */
  available: boolean;
  note?: string;
  streams?: number;
  openSeconds?: number;
  /** Agora's RSS at rest after the other scenarios, then holding every stream open (ready received, 2 s later). */
  idleRssMb?: number;
  holdingRssMb?: number;
  perStreamKb?: number;
  afterBurstRssMb?: number;
  fanout?: FanoutResult & { conversations: number; participants: number };
}

/**
 * `stream-memory` and `stream-fanout` (Agora only: the baseline has no stream). Opens a stream
 * for each of `who` (accounts 0 … n-1, one each), samples Agora's RSS before and after, then
 * starts group conversations among them (account g·s with its next s-1 accounts, all its
 * friends) and sends a burst of messages in them: each is an event for every other
 * participant's stream. Latency is from sending the request to reading the event.
 */
async function measureStream(start: () => Promise<Server>, who: Session[], groupSize: number): Promise<StreamReport | null> {
  if (!selected('stream-fanout') && !selected('stream-memory')) return null;
  // A fresh instance: the one measured above holds what the other scenarios left (sign-ins'
  // argon2id buffers, filled caches), which would hide a few hundred streams' worth of memory.
  const agora = await start();
  log(`stream: a fresh Agora at ${agora.origin} (pid ${agora.pid})`);
  if (!(await hasStream(agora.origin, who[0]!.token))) {
    log('stream: this build of Agora has no GET /v1/stream (404); stream-memory and stream-fanout not measured');
    return { available: false, note: 'this build of Agora has no GET /v1/stream (404)' };
  }
  // Warm-up, not measured: a few streams opened and closed, so that "idle" already holds the
  // stream's code (the sessions of the streams opened next are part of what they cost).
  for (const stream of await openStreams(agora.origin, who.slice(0, 10))) stream.close();
  await sleep(settle * 2);
  const idleRssMb = rssMb(agora.pid);
  let started = performance.now();
  const streams: OpenStream[] = await openStreams(agora.origin, who);
  const openSeconds = Math.round((performance.now() - started) / 10) / 100;
  await sleep(settle * 2);
  const holdingRssMb = rssMb(agora.pid);
  const report: StreamReport = {
    available: true,
    streams: streams.length,
    openSeconds,
    idleRssMb: Math.round(idleRssMb),
    holdingRssMb: Math.round(holdingRssMb),
    perStreamKb: Math.round(((holdingRssMb - idleRssMb) * 1024) / streams.length),
  };
  log(`stream-memory: ${streams.length} streams open in ${openSeconds} s; Agora RSS ${report.idleRssMb} MB idle, ${report.holdingRssMb} MB holding them (${report.perStreamKb} KB per stream)`);
  try {
    if (selected('stream-fanout')) {
      // Its own keep-alive connections for the writes (node:http, 10 as 10 are in flight).
      const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
      const groups: Session[][] = [];
      for (let g = 0; g * groupSize < who.length; g++) {
        const members = who.slice(g * groupSize, (g + 1) * groupSize);
        if (members.length >= 2) groups.push(members);
      }
      const conversations: { id: string; members: Session[] }[] = [];
      for (const members of groups) {
        const response = await postJson(agent, `${agora.origin}/v1/conversations`, members[0]!.token, { participantIds: members.slice(1).map((m) => m.accountId) });
        if (response.status !== 201 && response.status !== 200) throw new Error(`stream-fanout: starting a conversation answered ${response.status}: ${response.body}`);
        conversations.push({ id: (JSON.parse(response.body) as { id: string }).id, members });
      }
      const perConversation = scaleName === 'smoke' ? 2 : 5;
      const writes: { marker: string; recipients: string[]; conversationId: string; sender: Session }[] = [];
      for (let j = 0; j < perConversation; j++) {
        for (const { id, members } of conversations) {
          const sender = members[j % members.length]!;
          writes.push({ marker: `bench-fanout-${writes.length}.`, conversationId: id, sender, recipients: members.filter((m) => m !== sender).map((m) => m.accountId) });
        }
      }
      started = performance.now();
      const result = await fanout(
        streams,
        writes,
        async (write) => {
          const { conversationId, sender } = write as (typeof writes)[number];
          const response = await postJson(agent, `${agora.origin}/v1/conversations/${conversationId}/messages`, sender.token, {
            text: `${write.marker} A message to many open streams`,
          });
          if (response.status !== 201) throw new Error(`stream-fanout: sending a message answered ${response.status}: ${response.body}`);
          return (JSON.parse(response.body) as { id: string }).id;
        },
        10,
        10_000,
      );
      report.fanout = { ...result, conversations: conversations.length, participants: groupSize };
      report.afterBurstRssMb = Math.round(rssMb(agora.pid));
      agent.destroy();
      log(
        `stream-fanout: ${result.writes} messages in ${conversations.length} conversations of up to ${groupSize}: ${result.delivered}/${result.expected} deliveries, ` +
          `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.eventsPerSecond} events/s`,
      );
    }
  } finally {
    for (const stream of streams) stream.close();
  }
  return report;
}

/** One round of `scenario` on each server: A B, B A, A B … by `round`, so neither always runs right after the other's load. */
async function measureRound(scenario: Scenario, servers: Server[], round: number, runs: Run[], count?: (run: Run) => void): Promise<void> {
  for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
    const run = await measure(scenario, server, duration, round);
    runs.push(run);
    count?.(run);
    const seen = run.visibility
      ? `; ${run.visibility.samples.length} post→feed samples, p50 ${Math.round(quantile(run.visibility.samples, 0.5))} ms, max ${Math.round(Math.max(0, ...run.visibility.samples))} ms, ${run.visibility.missing} not seen`
      : '';
    const jobs = run.drained ? `; ${run.drained.jobs} jobs still to run at the end, run in ${run.drained.ms} ms` : '';
    log(`${scenario.name} ${server.name} round ${round + 1}: ${run.requestsPerSec.toFixed(0)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms${seen}${jobs}`);
  }
}

async function runScenario(scenario: Scenario, servers: Server[], runs: Run[]): Promise<void> {
  if (!selected(scenario.name)) return;
  // Under --perf, each server is sampled from its warm-up to its last round: the requests of both.
  const profiles = args.perf ? await Promise.all(servers.map((server) => startPerf(scenario.name, server))) : [];
  // Under --alloc, each server's allocations are sampled over the same span.
  const allocations = args.alloc ? await Promise.all(servers.map((server) => startAlloc(scenario.name, server))) : [];
  const served = new Map<Server['name'], number>();
  const count = (run: Run) => served.set(run.server, (served.get(run.server) ?? 0) + run.requests);
  if (warmup > 0) for (const server of servers) count(await measure(scenario, server, warmup, -1)); // warm-up, not reported
  for (let round = 0; round < rounds; round++) await measureRound(scenario, servers, round, runs, count);
  for (const [i, profile] of profiles.entries()) await profile.finish(served.get(servers[i]!.name) ?? 0);
  for (const [i, allocation] of allocations.entries()) await allocation.finish(served.get(servers[i]!.name) ?? 0);
}

/**
 * Scenarios whose rounds a target compares with each other's (feed-1000-friends' latency against
 * feed's, a deep page's against the first's), run together: round r of each, then round r + 1 of
 * each in the other order. Run one after the other, round r of the two were minutes apart, and the
 * machine's load in between moved their ratio as much as the servers' own ratios moved before
 * their rounds alternated: feed-1000-friends / feed once came out at 1.18 (0.98–1.66), two of
 * feed-1000-friends' six rounds run while the baseline too ran 22 % slower than in the others.
 * Under --perf or --alloc each is run alone, so that its profile is its own.
 */
async function runTogether(group: Scenario[], servers: Server[], runs: Run[]): Promise<void> {
  const chosen = group.filter((scenario) => selected(scenario.name));
  if (args.perf || args.alloc || chosen.length < 2) {
    for (const scenario of chosen) await runScenario(scenario, servers, runs);
    return;
  }
  if (warmup > 0) for (const scenario of chosen) for (const server of servers) await measure(scenario, server, warmup, -1);
  for (let round = 0; round < rounds; round++) {
    for (const scenario of round % 2 === 0 ? chosen : [...chosen].reverse()) await measureRound(scenario, servers, round, runs);
  }
}

// ---------------------------------------------------------------------------------------------
// The run.

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
const json = { 'content-type': 'application/json' };

let exitCode = 0;
try {
  await admin(`drop database if exists "${database}"`);
  await admin(`create database "${database}"`);
  const orm = await openDatabase({ clientUrl: databaseUrl, poolMax: 1, persistence });
  await migrate(orm);
  await orm.close(true);

  const client = new pg.Client({ connectionString: databaseUrl });
  db = client;
  client.on('error', () => {}); // a connection cut at clean-up
  await client.connect();
  let started = Date.now();
  const sessions: Session[] = await seedBase(client, scale);
  log(`seeded ${scale.accounts} accounts, ${scale.channels} channels, ${sessions.length} sessions and ${scale.firstPosts} posts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  started = Date.now();
  await seedConversations(client, scale);
  await seedNotifications(client, scale);
  // The live stream's accounts: 0 … streams-1, one session (and one stream) each.
  const streamSessions = await seedSessions(client, Array.from({ length: Math.min(scale.streams, scale.accounts) }, (_, i) => i));
  // feed-1000-friends: a session for each wide account.
  const wideSessions = await seedSessions(client, wideAccountIndexes(scale));
  const wideFriends = await wideFriendCounts(client, scale);
  log(`${wideSessions.length} accounts with ${wideFriends.join(', ')} friends`);
  // feed-while-posting: four authors, each with sessions for two of its friends (the next two
  // accounts: account i befriends i+1 … i+k), apart from every other session's account.
  const probeAuthors = [0, 1, 2, 3].map((j) => Math.floor(((j + 0.25) * scale.accounts) / 4) + 3);
  const probeSessions = await seedSessions(client, probeAuthors.flatMap((a) => [a, (a + 1) % scale.accounts, (a + 2) % scale.accounts]));
  const probeGroups: ProbeGroup[] = probeAuthors.map((_, j) => ({ author: probeSessions[3 * j]!, friends: [probeSessions[3 * j + 1]!, probeSessions[3 * j + 2]!] }));
  log(
    `seeded ${scale.accounts * scale.conversationsPerAccount} conversations of ${scale.messagesPerConversation} messages, ` +
      `${scale.accounts * scale.notificationsPerAccount} notifications and ${streamSessions.length} stream sessions in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  if (embeddedDataDir) {
    postmasterPid = Number(readFileSync(join(embeddedDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (canPin) for (const pid of [postmasterPid, ...childrenOf(postmasterPid)]) pin(pid, 0); // new backends inherit it
  }

  const profileDir = join(outDir, `${stamp}-profile`);
  // As `npm start` runs it (`npm run bench` builds first, as `npm start` does).
  const agoraArgs = serverArgs();
  const agoraEntry = agoraArgs.pop()!;
  agoraArgs.push(...agoraNodeFlags);
  const agoraEnvironment = {
      ...serverEnv(),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      DATABASE_URL: databaseUrl,
      RATE_LIMIT_PER_MINUTE: '1000000',
      SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
      SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES: '1000000',
      SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR: '1000000',
      ...agoraEnv,
  };
  const agoraReady = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/;
  const agora = await startServer('agora', agoraEntry, agoraEnvironment, agoraReady, [
    ...agoraArgs,
    ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ...perfNodeFlags,
    ...allocNodeFlags,
  ]);
  const baseline = await startServer('baseline', 'bench/baseline/server.ts', { DATABASE_URL: databaseUrl, PORT: '0' }, /^listening at (http:\/\/127\.0\.0\.1:\d+)$/m, [...perfNodeFlags, ...allocNodeFlags]);
  const servers = [agora, baseline];
  log(`agora at ${agora.origin} (pid ${agora.pid}), baseline at ${baseline.origin} (pid ${baseline.pid}); pinning ${canPin ? 'on' : 'off'}`);

  const accountIds = (await client.query<{ id: string }>('select id from public.bench_account')).rows.map((r) => r.id);
  const channelIds = (await client.query<{ id: string }>('select id from public.bench_channel order by i')).rows.map((r) => r.id);
  const tokens = sessions.map((s) => s.token);
  const wideTokens = wideSessions.map((s) => s.token);
  // Every feed the scenarios read, for priming.
  const feedTokens = [...tokens, ...wideTokens, ...probeSessions.map((s) => s.token)];
  const runs: Run[] = [];

  const feed: Omit<Scenario, 'name' | 'kind'> = {
    describe: 'GET /feed, a random signed-in account',
    request: () => ({
      method: 'GET',
      path: '/v1/feed',
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}` } }),
    }),
  };

  // Feed at a small data set, before the rest of the posts exist.
  if (selected('feed-small-data')) await prime(servers, accountIds, feedTokens);
  await runScenario({ name: 'feed-small-data', kind: 'size', ...feed, describe: `GET /feed with ${scale.firstPosts} posts in the database` }, servers, runs);

  started = Date.now();
  await seedPosts(client, scale, scale.firstPosts, scale.posts);
  await dropTimelines(client);
  await finishSeeding(client);
  log(`seeded the other ${scale.posts - scale.firstPosts} posts in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const postIds = (await client.query<{ id: string }>('select id from posts.post where channel_id is null order by random() limit 10000')).rows.map((r) => r.id);
  started = Date.now();
  await prime(servers, accountIds, feedTokens, selected('get-post') ? postIds : []);
  log(`primed both servers' caches in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await sameFeeds(servers, [...tokens.slice(0, 40), ...wideTokens]);

  // For PATCH: one post per connection, each by an account we hold a session of; versions
  // are tracked from the responses and re-read before each run.
  const editable = (
    await client.query<{ id: string; account_id: string }>(
      `select distinct on (s.account_id) p.id, s.account_id from accounts.session s
         join posts.post p on p.author_id = s.account_id and p.channel_id is null
        where s.account_id = any($1::uuid[]) -- not the live stream's sessions
        order by s.account_id, p.id`,
      [sessions.map((s) => s.accountId)],
    )
  ).rows.map((r) => ({ id: r.id, token: sessions.find((s) => s.accountId === r.account_id)!.token }));
  if (editable.length < connections) throw new Error(`only ${editable.length} editable posts for ${connections} connections`);
  type Editable = (typeof editable)[number];
  const versions = new Map<string, number>();
  const free: Editable[] = [];

  // For the replayed POST: one key per session, used once per server before the runs.
  const replays = sessions.slice(0, Math.min(sessions.length, 100)).map((s, i) => ({ token: s.token, key: `bench-replay-${i}` }));

  // Depth: the first page and the 40th of one channel's posts, by cursor.
  const deepChannel = channelIds[0]!;
  const depthPath = new Map<Server['name'], { page: number; path: string }>();
  for (const server of servers) {
    let path = `/v1/channels/${deepChannel}/posts`;
    let page = 1;
    while (page < 40) {
      const response = await fetch(`${server.origin}${path}`);
      if (!response.ok) throw new Error(`${server.name}: ${path} answered ${response.status}`);
      const body = (await response.json()) as { nextCursor: string | null };
      if (!body.nextCursor) break;
      path = `/v1/channels/${deepChannel}/posts?cursor=${encodeURIComponent(body.nextCursor)}`;
      page++;
    }
    depthPath.set(server.name, { page, path });
  }
  const deepestPage = depthPath.get('agora')!.page;

  const conversations = await conversationsOfSessions(client, sessions);
  if (selected('send-message')) {
    started = Date.now();
    await primeConversations(agora, conversations);
    log(`primed Agora's conversations (${conversations.length}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const signedIn = (req: autocannon.Request) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick(tokens)}` } });
  const createPost = (): autocannon.Request => ({
    method: 'POST',
    path: '/v1/posts',
    body: JSON.stringify({ text: 'A post written by the benchmark' }),
    setupRequest: (req) => ({
      ...req,
      headers: { ...json, authorization: `Bearer ${pick(tokens)}`, 'idempotency-key': randomUUID() },
    }),
  });

  const scenarios: Scenario[] = [
    {
      name: 'get-post',
      kind: 'read',
      describe: 'GET /posts/{id}, random ids',
      request: () => ({ method: 'GET', path: '/v1/posts/x', setupRequest: (req) => ({ ...req, path: `/v1/posts/${pick(postIds)}` }) }),
    },
    {
      name: 'account-posts',
      kind: 'read',
      describe: 'GET /accounts/{id}/posts, first page, random accounts',
      request: () => ({ method: 'GET', path: '/v1/accounts/x/posts', setupRequest: (req) => ({ ...req, path: `/v1/accounts/${pick(accountIds)}/posts` }) }),
    },
    { name: 'feed', kind: 'read', ...feed },
    {
      name: 'feed-1000-friends',
      kind: 'read',
      describe: `GET /feed, a random one of ${wideSessions.length} accounts with ${Math.min(...wideFriends)}–${Math.max(...wideFriends)} friends`,
      request: () => ({
        method: 'GET',
        path: '/v1/feed',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick(wideTokens)}` } }),
      }),
    },
    {
      name: 'channel-posts',
      kind: 'read',
      describe: 'GET /channels/{id}/posts, first page, random channels',
      request: () => ({ method: 'GET', path: '/v1/channels/x/posts', setupRequest: (req) => ({ ...req, path: `/v1/channels/${pick(channelIds)}/posts` }) }),
    },
    {
      name: 'channel-page-1',
      kind: 'depth',
      describe: 'GET /channels/{id}/posts, page 1 of one channel',
      request: () => ({ method: 'GET', path: `/v1/channels/${deepChannel}/posts` }),
    },
    {
      name: `channel-page-${deepestPage}`,
      kind: 'depth',
      describe: `GET /channels/{id}/posts, page ${deepestPage} of the same channel (by cursor)`,
      request: (server) => ({ method: 'GET', path: depthPath.get(server.name)!.path }),
    },
    {
      name: 'create-post',
      kind: 'write',
      describe: 'POST /posts, a fresh Idempotency-Key each',
      request: createPost,
    },
    {
      name: 'feed-while-posting',
      kind: 'visibility',
      describe:
        `create-post on ${connections} connections while a prober posts as one of ${probeGroups.length} authors and reads two of its friends' feeds until the post is in them`,
      request: createPost,
      during: (server, signal) => probeVisibility(server.origin, probeGroups, signal),
    },
    {
      name: 'replay-post',
      kind: 'write',
      describe: 'POST /posts, replayed (a key already used)',
      async before(server) {
        for (const { token, key } of replays) {
          const response = await fetch(`${server.origin}/v1/posts`, {
            method: 'POST',
            headers: { ...json, authorization: `Bearer ${token}`, 'idempotency-key': key },
            body: JSON.stringify({ text: 'A replayed post' }),
          });
          if (response.status !== 201) throw new Error(`${server.name}: the post to replay answered ${response.status}`);
        }
      },
      request: () => ({
        method: 'POST',
        path: '/v1/posts',
        body: JSON.stringify({ text: 'A replayed post' }),
        setupRequest: (req) => {
          const { token, key } = pick(replays);
          return { ...req, headers: { ...json, authorization: `Bearer ${token}`, 'idempotency-key': key } };
        },
      }),
    },
    {
      name: 'patch-post',
      kind: 'write',
      describe: 'PATCH /posts/{id} with If-Match, own posts',
      async before() {
        // The previous run's last requests may still be finishing: wait until the versions hold still.
        const read = async () =>
          (await client.query<{ id: string; version: number }>('select id, version from posts.post where id = any($1::uuid[]) order by id', [editable.map((e) => e.id)])).rows;
        let rows = await read();
        for (let tries = 0; tries < 20; tries++) {
          await sleep(250);
          const again = await read();
          const same = JSON.stringify(again) === JSON.stringify(rows);
          rows = again;
          if (same) break;
        }
        for (const row of rows) versions.set(row.id, row.version);
        free.splice(0, free.length, ...editable);
      },
      request: () => ({
        method: 'PATCH',
        path: '/v1/posts/x',
        body: JSON.stringify({ text: 'Edited by the benchmark' }),
        // autocannon resets a connection's context before each request: the post is leased
        // from `free` when the request is built and given back when its response arrives,
        // so no two requests in flight edit the same post.
        setupRequest: (req, context) => {
          const post = free.shift();
          if (!post) throw new Error('patch-post: more requests in flight than editable posts');
          (context as { post?: Editable }).post = post;
          return {
            ...req,
            path: `/v1/posts/${post.id}`,
            headers: { ...json, authorization: `Bearer ${post.token}`, 'if-match': `"${versions.get(post.id)}"` },
          };
        },
        onResponse: (status, body, context) => {
          const post = (context as { post?: Editable }).post;
          if (!post) return;
          if (status === 200) versions.set(post.id, (JSON.parse(body) as { version: number }).version);
          free.push(post);
        },
      }),
    },
    {
      name: 'list-notifications',
      kind: 'read',
      describe: 'GET /notifications, first page, a random signed-in account',
      request: () => ({ method: 'GET', path: '/v1/notifications', setupRequest: signedIn }),
    },
    {
      name: 'list-conversations',
      kind: 'read',
      describe: 'GET /conversations, first page, a random signed-in account',
      request: () => ({ method: 'GET', path: '/v1/conversations', setupRequest: signedIn }),
    },
    {
      name: 'list-messages',
      kind: 'read',
      describe: "GET /conversations/{id}/messages, first page of a random conversation of the caller's",
      request: () => ({
        method: 'GET',
        path: '/v1/conversations/x/messages',
        setupRequest: (req) => {
          const { token, conversationId } = pick(conversations);
          return { ...req, path: `/v1/conversations/${conversationId}/messages`, headers: { ...req.headers, authorization: `Bearer ${token}` } };
        },
      }),
    },
    {
      name: 'send-message',
      kind: 'write',
      describe: "POST /conversations/{id}/messages to a random conversation of the caller's, a fresh Idempotency-Key each",
      request: () => ({
        method: 'POST',
        path: '/v1/conversations/x/messages',
        body: JSON.stringify({ text: 'A message sent by the benchmark' }),
        setupRequest: (req) => {
          const { token, conversationId } = pick(conversations);
          return {
            ...req,
            path: `/v1/conversations/${conversationId}/messages`,
            headers: { ...json, authorization: `Bearer ${token}`, 'idempotency-key': randomUUID() },
          };
        },
      }),
    },
    {
      name: 'sessions',
      kind: 'sessions',
      describe: 'POST /sessions (argon2id verify: CPU-bound, reported separately)',
      request: () => ({
        method: 'POST',
        path: '/v1/sessions',
        setupRequest: (req) => ({ ...req, headers: json, body: JSON.stringify({ email: email(Math.floor(Math.random() * scale.accounts)), password: PASSWORD }) }),
      }),
    },
  ];
  // Compared by a latency target, round by round: run together (runTogether).
  const together = [['feed', 'feed-1000-friends'], ['channel-page-1', `channel-page-${deepestPage}`]];
  for (const scenario of scenarios) {
    const group = together.find((names) => names.includes(scenario.name));
    if (!group) await runScenario(scenario, servers, runs);
    else if (group[0] === scenario.name) await runTogether(group.map((name) => scenarios.find((s) => s.name === name)!), servers, runs);
  }

  // Group conversations of an account and its next friends: k + 1 people (seed.ts, friendships).
  const stream = await measureStream(() => startServer('agora-stream', agoraEntry, agoraEnvironment, agoraReady, agoraArgs), streamSessions, Math.min(Math.floor(scale.friendsPerAccount / 2), Math.floor((scale.accounts - 1) / 2)) + 1);

  const allScenarios = [{ name: 'feed-small-data', kind: 'size' as const, describe: `GET /feed with ${scale.firstPosts} posts in the database` }, ...scenarios];
  const report = summarize(allScenarios, runs, deepestPage);
  const meta = {
    date: new Date().toISOString(),
    scale: scaleName,
    data: scale,
    durationSeconds: duration,
    warmupSeconds: warmup,
    rounds,
    connections,
    pinned: canPin,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
    agoraPeakRssMb: peakRss(agora.pid),
    agoraCommand: { nodeFlags: agoraArgs, extraEnv: agoraEnv },
    wideFriends,
    stream,
  };
  const markdown = renderMarkdown(meta, report) + perfMarkdown(perfReports) + allocMarkdown(allocReports);
  writeFileSync(join(outDir, `${stamp}.json`), `${JSON.stringify({ ...meta, ...report, runs }, null, 2)}\n`);
  writeFileSync(join(outDir, `${stamp}.md`), markdown);
  writeFileSync(join(outDir, 'latest.md'), markdown);
  console.log(`\n${markdown}`);
  log(`wrote ${join(outDir, `${stamp}.md`)} and .json`);
} catch (error) {
  console.error(`bench: FAILED: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);

// ---------------------------------------------------------------------------------------------
// Reporting.

function peakRss(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** The median of per-round values with their interquartile range and their whole range. */
interface Spread {
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
  /** Rounds. */
  n: number;
}

function spreadOf(values: readonly number[]): Spread {
  return {
    median: round2(median(values)),
    q1: round2(quantile(values, 0.25)),
    q3: round2(quantile(values, 0.75)),
    min: round2(Math.min(...values)),
    max: round2(Math.max(...values)),
    n: values.length,
  };
}

/** One server's medians over the rounds of a scenario. */
type ServerSummary = Omit<Run, 'scenario' | 'server' | 'round' | 'requests' | 'visibility'>;

/** `feed-while-posting` for one server: every (post, friend) sample of every round. */
interface VisibilitySummary {
  posts: number;
  samples: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Each round's p99 (ms). */
  roundP99Ms: Spread;
  /** The prober's feed reads: the measurement's resolution. */
  feedReadP50Ms: number;
}

interface Summary {
  scenario: string;
  kind: Scenario['kind'];
  describe: string;
  agora: ServerSummary;
  baseline: ServerSummary;
  /** Per-round ratios, Agora's round over the baseline's of the same round: requests/s, p99, the server's own CPU per request. */
  throughput: Spread;
  p99: Spread;
  serverCpu: Spread;
  /** Per-round ratio of the WAL written per request (writes' cost in the database: row changes, index entries, full-page images). */
  wal: Spread;
  visibility?: { agora: VisibilitySummary; baseline: VisibilitySummary };
}

interface Target {
  target: string;
  /** The per-round values the target is judged on (one value when there is nothing per round, as for memory). */
  spread: Spread;
  /** The target's bound and which side of it is good. */
  bound: number;
  direction: '≥' | '≤' | '<';
  status: Status;
}


/** Met only when the whole spread (min–max) clears the bound; not met when none of it does. */
function judge(spread: Spread, bound: number, direction: '≥' | '≤' | '<'): Status {
  const clears = (v: number) => (direction === '≥' ? v >= bound : direction === '≤' ? v <= bound : v < bound);
  if (clears(spread.min) && clears(spread.max)) return 'met';
  if (!clears(spread.min) && !clears(spread.max)) return 'not met';
  return 'straddles';
}

function summarizeVisibility(mine: Run[]): VisibilitySummary {
  const all = mine.flatMap((r) => r.visibility?.samples ?? []);
  const rounded = (v: number) => Math.round(v);
  return {
    posts: mine.reduce((n, r) => n + (r.visibility?.posts ?? 0), 0),
    samples: all.length,
    missing: mine.reduce((n, r) => n + (r.visibility?.missing ?? 0), 0),
    p50Ms: rounded(quantile(all, 0.5)),
    p99Ms: rounded(quantile(all, 0.99)),
    maxMs: rounded(Math.max(0, ...all)),
    // A round with a post not seen within the prober's timeout counts as infinitely late.
    roundP99Ms: spreadOf(mine.map((r) => ((r.visibility?.missing ?? 0) > 0 ? Infinity : rounded(quantile(r.visibility?.samples ?? [], 0.99))))),
    feedReadP50Ms: rounded(quantile(mine.flatMap((r) => r.visibility?.feedReadMs ?? []), 0.5)),
  };
}

function summarize(list: Pick<Scenario, 'name' | 'kind' | 'describe'>[], runs: Run[], deepestPage: number) {
  const mine = (scenario: string, server: Server['name']) => runs.filter((r) => r.scenario === scenario && r.server === server).sort((a, b) => a.round - b.round);
  const of = (scenario: string, server: Server['name']): ServerSummary => {
    const rs = mine(scenario, server);
    return {
      requestsPerSec: Math.round(median(rs.map((r) => r.requestsPerSec))),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      meanMs: round2(median(rs.map((r) => r.meanMs))),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)),
      serverCpuUs: median(rs.map((r) => r.serverCpuUs)),
      v8ThreadsCpuUs: median(rs.map((r) => r.v8ThreadsCpuUs)),
      databaseCpuUs: rs.some((r) => r.databaseCpuUs === null) ? null : median(rs.map((r) => r.databaseCpuUs!)),
      walBytes: rs.some((r) => r.walBytes === null) ? null : Math.round(median(rs.map((r) => r.walBytes!))),
    };
  };
  /** f(Agora's round, the baseline's round) for each round both ran. */
  const perRound = (scenario: string, f: (a: Run, b: Run) => number) => {
    const [as, bs] = [mine(scenario, 'agora'), mine(scenario, 'baseline')];
    return as.flatMap((a) => {
      const b = bs.find((x) => x.round === a.round);
      return b ? [f(a, b)] : [];
    });
  };
  const scenarios: Summary[] = list
    .filter((s) => selected(s.name))
    .map((s) => ({
      scenario: s.name,
      kind: s.kind,
      describe: s.describe,
      agora: of(s.name, 'agora'),
      baseline: of(s.name, 'baseline'),
      throughput: spreadOf(perRound(s.name, (a, b) => a.requestsPerSec / b.requestsPerSec)),
      p99: spreadOf(perRound(s.name, (a, b) => a.p99 / Math.max(b.p99, 1))),
      serverCpu: spreadOf(perRound(s.name, (a, b) => a.serverCpuUs / Math.max(b.serverCpuUs, 1))),
      wal: spreadOf(perRound(s.name, (a, b) => (a.walBytes ?? 0) / Math.max(b.walBytes ?? 0, 1))),
      ...(s.kind === 'visibility' ? { visibility: { agora: summarizeVisibility(mine(s.name, 'agora')), baseline: summarizeVisibility(mine(s.name, 'baseline')) } } : {}),
    }));
  const find = (name: string) => scenarios.find((s) => s.scenario === name);
  /** One server's mean latency in scenario x over scenario y, round by round. */
  const latencyRatio = (x: string, y: string, server: Server['name']) => {
    const ys = mine(y, server);
    return spreadOf(
      mine(x, server).flatMap((r) => {
        const other = ys.find((o) => o.round === r.round);
        return other ? [r.meanMs / Math.max(other.meanMs, 0.01)] : [];
      }),
    );
  };
  const targets: Target[] = [];
  const add = (target: string, spread: Spread, bound: number, direction: '≥' | '≤' | '<') => targets.push({ target, spread, bound, direction, status: judge(spread, bound, direction) });

  const feed = find('feed');
  if (feed) add('GET /feed: req/s ≥ 2 × the baseline (its fan-out-on-read feed)', feed.throughput, 2, '≥');
  const comparisons: { name: string; ratio: Spread; baselineRatio: Spread }[] = [];
  if (feed && find('feed-1000-friends')) {
    const ratio = latencyRatio('feed-1000-friends', 'feed', 'agora');
    add('feed-1000-friends / feed (50 friends), Agora, mean latency ≤ 1.2', ratio, 1.2, '≤');
    comparisons.push({ name: 'feed-1000-friends / feed, mean latency', ratio, baselineRatio: latencyRatio('feed-1000-friends', 'feed', 'baseline') });
  }
  const posting = find('feed-while-posting');
  if (posting?.visibility) {
    add('feed-while-posting: a new post in its friends\u2019 feeds, Agora, p99 of each round ≤ 1,000 ms', posting.visibility.agora.roundP99Ms, 1000, '≤');
  }
  for (const [name, bound] of Object.entries(WRITE_TARGETS)) {
    const s = find(name);
    if (s) add(`${name}: req/s ≥ ${bound} × the baseline`, s.throughput, bound, '≥');
  }
  for (const s of scenarios) {
    if (!GETS.includes(s.kind)) continue;
    if (s.scenario !== 'feed') add(`${s.scenario}: req/s ≥ 0.9 × the baseline`, s.throughput, 0.9, '≥');
    add(`${s.scenario}: p99 ≤ 1.5 × the baseline`, s.p99, 1.5, '≤');
  }
  for (const s of scenarios) {
    if (GETS.includes(s.kind)) add(`${s.scenario}: Agora's CPU per request ≤ 1.5 × the baseline's`, s.serverCpu, 1.5, '≤');
    else if (WRITES_FOR_CPU.includes(s.scenario)) add(`${s.scenario}: Agora's CPU per request ≤ 2 × the baseline's`, s.serverCpu, 2, '≤');
  }
  // Sign-ins are argon2-bound and reported on their own row (argon2id's 19 MiB per hash in
  // flight are memory the password hashing needs, not the server's); the target is over the rest.
  const loaded = scenarios.filter((s) => s.kind !== 'sessions');
  if (loaded.length > 0) {
    const rss = Math.max(...loaded.map((s) => s.agora.peakRssMb));
    add('Agora RSS under every load but sign-ins < 200 MB (the largest of the scenarios\u2019 peaks)', spreadOf([rss]), 200, '<');
  }
  // Not issue 16's targets; kept from the first harness: cost with depth and with data size.
  const [deep, first] = [find(`channel-page-${deepestPage}`), find('channel-page-1')];
  if (deep && first) add(`channel-page-${deepestPage} / channel-page-1, Agora, mean latency ≤ 1.3`, latencyRatio(deep.scenario, first.scenario, 'agora'), 1.3, '≤');
  const [full, small] = [find('feed'), find('feed-small-data')];
  if (full && small) add('feed at full size / feed-small-data, Agora, mean latency ≤ 1.5', latencyRatio('feed', 'feed-small-data', 'agora'), 1.5, '≤');
  const errors = scenarios.reduce((n, s) => n + s.agora.errors + s.baseline.errors, 0);
  add('zero errors', spreadOf([errors]), 0, '≤');
  return { scenarios, targets, comparisons };
}

function streamLines(stream: StreamReport | null): string[] {
  if (!stream) return [];
  const lines = ['## Live stream (Agora alone: the baseline has no stream)', ''];
  if (!stream.available) return [...lines, `Not measured: ${stream.note}.`, ''];
  lines.push(
    `stream-memory: ${stream.streams} streams open (one account each, opened in ${stream.openSeconds} s). Agora's RSS ${stream.idleRssMb} MB at rest, ` +
      `${stream.holdingRssMb} MB holding them: ${stream.perStreamKb} KB per stream.`,
    '',
  );
  const f = stream.fanout;
  if (f) {
    lines.push(
      '| scenario | messages | conversations × people | deliveries received / expected | p50 / p99 / max ms, write to receipt | events/s delivered | RSS after, MB |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| stream-fanout | ${f.writes} | ${f.conversations} × ≤${f.participants} | ${f.delivered} / ${f.expected} | ${f.p50Ms} / ${f.p99Ms} / ${f.maxMs} | ${f.eventsPerSecond} (${f.eventsReceived} in ${f.seconds} s) | ${stream.afterBurstRssMb} |`,
      '',
    );
  }
  return lines;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function cpu(s: ServerSummary): string {
  return s.databaseCpuUs === null ? `${s.serverCpuUs} + ?` : `${s.serverCpuUs} + ${s.databaseCpuUs}`;
}

/** "median (IQR q1–q3; min–max)", or the value alone when there is one. */
function spreadText(s: Spread): string {
  if (s.n <= 1 || s.min === s.max) return `${s.median}`;
  return `${s.median} (${s.q1}–${s.q3}; ${s.min}–${s.max})`;
}


function renderMarkdown(meta: Record<string, any>, report: ReturnType<typeof summarize>): string {
  const posting = report.scenarios.find((s) => s.visibility);
  const lines = [
    `# Agora vs baseline — ${meta.date}`,
    '',
    `Scale \`${meta.scale}\`: ${meta.data.accounts} accounts (${meta.data.friendsPerAccount} friends each; ${meta.wideFriends.length} with ${meta.wideFriends.join(', ')}), ${meta.data.posts} posts, ${meta.data.channels} channels. ` +
      `${meta.connections} connections, ${meta.rounds} rounds of ${meta.durationSeconds} s per server and scenario, alternating (A B, B A, …), after a ${meta.warmupSeconds} s warm-up. ` +
      `Ratios are per round (Agora's round over the baseline's of the same round): median (interquartile range; min–max) over the rounds. ` +
      `Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memoryGb} GB, Linux ${meta.machine.kernel}, Node ${meta.machine.node}; ` +
      `pinning ${meta.pinned ? 'on (servers and PostgreSQL on core 0, load generator on core 1)' : 'off'}. ` +
      `Agora's Node flags: \`${meta.agoraCommand.nodeFlags.join(' ')}\`${Object.keys(meta.agoraCommand.extraEnv).length > 0 ? `; extra environment: \`${Object.entries(meta.agoraCommand.extraEnv as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(' ')}\`` : ''}.`,
    '',
    "| scenario | Agora req/s | baseline req/s | req/s ratio | p99 ratio | server CPU/request ratio | Agora p50 / p99 ms | baseline p50 / p99 ms | CPU µs/request, server + PostgreSQL: Agora / baseline | of the server's, V8's threads: Agora / baseline | peak RSS MB Agora / baseline | errors |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.scenarios.map(
      (s) =>
        `| ${s.scenario} | ${s.agora.requestsPerSec} | ${s.baseline.requestsPerSec} | ${spreadText(s.throughput)} | ${spreadText(s.p99)} | ${spreadText(s.serverCpu)} | ${s.agora.p50} / ${s.agora.p99} | ${s.baseline.p50} / ${s.baseline.p99} | ${cpu(s.agora)} / ${cpu(s.baseline)} | ${s.agora.v8ThreadsCpuUs} / ${s.baseline.v8ThreadsCpuUs} | ${s.agora.peakRssMb} / ${s.baseline.peakRssMb} | ${s.agora.errors + s.baseline.errors} |`,
    ),
    '',
    `Agora's peak RSS over its whole life (VmHWM), sign-ins included: ${meta.agoraPeakRssMb ?? 'n/a'} MB.`,
    '',
    "\"V8's threads\" is the part of the server's CPU per request spent on V8's threads beside the main one: garbage collection's helpers " +
      '(concurrent marking and sweeping, parallel scavenges) and background compilation. A CPU profile (`--profile`) samples the main thread only.',
    '',
  ];
  if (report.scenarios.some((s) => s.scenario === 'send-message')) {
    lines.push(
      "send-message: the baseline inserts the recipients' notification in the request's statement; Agora enqueues the notification's job in the " +
        "request's transaction and its worker (in the same process, on the same core) writes it; each of Agora's rounds ends once those jobs have run, so Agora's CPU figures include the job's work as well as the queue's.",
      '',
    );
  }
  const writing = report.scenarios.filter((s) => !GETS.includes(s.kind) && s.agora.walBytes !== null);
  if (writing.length > 0) {
    lines.push(
      '## WAL per request (writes)',
      '',
      "What the database server wrote to its write-ahead log per request over each round (the advance of its insert position): rows, index entries, and the whole page the first change to a page writes after each checkpoint (full-page images; `wal_compression` compresses them). Agora's includes its workers' writes (the timelines' fan-out, the notifications' jobs).",
      '',
      '| scenario | Agora bytes/request | baseline bytes/request | ratio (per round) |',
      '|---|---:|---:|---:|',
      // A scenario whose baseline writes next to nothing (replay-post) has no ratio worth showing.
      ...writing.map((s) => `| ${s.scenario} | ${s.agora.walBytes} | ${s.baseline.walBytes} | ${s.baseline.walBytes! < MIN_WAL_FOR_RATIO ? '—' : spreadText(s.wal)} |`),
      '',
    );
  }
  if (posting?.visibility) {
    const v = posting.visibility;
    lines.push(
      '## A new post reaching its friends\u2019 feeds under load (`feed-while-posting`)',
      '',
      `${posting.describe}. Time from the post's 201 to the answer of the first feed read that shows it, every (post, friend) of every round; ` +
        'a read takes about the last column, so that is the resolution (and the whole time when the feed is read on demand).',
      '',
      '| server | posts | (post, friend) seen | not seen in 10 s | p50 / p99 / max ms | p99 per round, ms | create-post req/s meanwhile | feed read p50 ms |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...(['agora', 'baseline'] as const).map(
        (name) =>
          `| ${name} | ${v[name].posts} | ${v[name].samples} | ${v[name].missing} | ${v[name].p50Ms} / ${v[name].p99Ms} / ${v[name].maxMs} | ${spreadText(v[name].roundP99Ms)} | ${posting[name].requestsPerSec} | ${v[name].feedReadP50Ms} |`,
      ),
      '',
    );
  }
  if (report.comparisons.length > 0) {
    lines.push(
      '## Cost with friends',
      '',
      '| ratio (per round) | Agora | baseline |',
      '|---|---:|---:|',
      ...report.comparisons.map((c) => `| ${c.name} | ${spreadText(c.ratio)} | ${spreadText(c.baselineRatio)} |`),
      '',
    );
  }
  lines.push(
    '## Targets',
    '',
    'Met only when the whole spread (min–max over the rounds) clears the bound; *straddles* when part of it does.',
    '',
    '| target | median | IQR | min–max | status |',
    '|---|---:|---:|---:|:---:|',
    ...report.targets.map((t) => `| ${t.target} | ${t.spread.median} | ${t.spread.q1}–${t.spread.q3} | ${t.spread.min}–${t.spread.max} | ${STATUS_TEXT[t.status]} |`),
    '',
    `Targets met: ${report.targets.filter((t) => t.status === 'met').length} of ${report.targets.length}; straddling: ${report.targets.filter((t) => t.status === 'straddles').length}; not met: ${report.targets.filter((t) => t.status === 'not met').length}.`,
    '',
    ...streamLines(meta.stream as StreamReport | null),
  );
  return lines.join('\n');
}
