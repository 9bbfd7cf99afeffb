// What bench/run.ts and bench/ab.ts both measure with: a process's CPU time from /proc (all of
// it, and its V8 threads' share), CPU pinning with taskset, quantiles of per-round values, and
// the wait for the domain events' jobs a round's requests caused.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export const TICKS_PER_SECOND = 100; // USER_HZ, for the times in /proc/<pid>/stat

/** A /proc stat file (a process's or a thread's): its command name, and the fields after it; null once it is gone. */
function readStat(path: string): { name: string; fields: string[] } | null {
  try {
    const stat = readFileSync(path, 'utf8');
    return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), fields: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
  } catch {
    return null;
  }
}

/** utime + stime of a stat's fields, in seconds. */
function cpuOf(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The fields of /proc/<pid>/stat after the command name; empty once the process is gone. */
export function statFields(pid: number): string[] {
  return readStat(`/proc/${pid}/stat`)?.fields ?? [];
}

/** CPU time a process has used so far (user + system), in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return fields.length === 0 ? 0 : cpuOf(fields);
}

/**
 * CPU time so far (user + system, seconds) of the threads V8 runs beside a Node process's main
 * thread, named `V8Worker`: garbage collection's helpers (concurrent marking and sweeping,
 * parallel scavenging) and background compilation. A CPU profile samples the main thread
 * only, so this share of a process's CPU shows nowhere else. 0 once the process is gone.
 */
export function v8ThreadsCpuSeconds(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let total = 0;
  for (const task of tasks) {
    const stat = readStat(`/proc/${pid}/task/${task}/stat`); // null: the thread has exited
    if (stat?.name.startsWith('V8')) total += cpuOf(stat.fields);
  }
  return total;
}

/** A process's CPU so far, all of it and its V8 threads' share (seconds): the start of a `cpuSince`. */
export interface CpuReading {
  all: number;
  v8Threads: number;
}

/** Reads the process first, then its V8 threads: their window starts within the process's. */
export function cpuNow(pid: number): CpuReading {
  const all = cpuSeconds(pid);
  return { all, v8Threads: v8ThreadsCpuSeconds(pid) };
}

/**
 * The CPU (seconds) a process and its V8 threads used since `before`. The threads are read before
 * the process here, so that their window lies within the process's. The kernel counts both in
 * ticks of 10 ms, each thread's and the process's truncated on their own, so over a short window
 * the threads' delta can still pass the process's by a tick or two, which no thread of the process
 * can truly do: it is capped at the process's.
 */
export function cpuSince(pid: number, before: CpuReading): CpuReading {
  const v8Threads = v8ThreadsCpuSeconds(pid) - before.v8Threads;
  const all = cpuSeconds(pid) - before.all;
  return { all, v8Threads: Math.max(0, Math.min(v8Threads, all)) };
}

/** Whether processes can be pinned to cores here: two cores or more, and taskset. */
export function pinningAvailable(): boolean {
  return cpus().length >= 2 && spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pins a process and all its threads to one core; false if taskset refused. */
export function pinToCore(pid: number, core: number): boolean {
  return spawnSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** The q-quantile of a list, interpolated between the two nearest values (0 for an empty list). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * Waits until no domain event's job is due or running in the database `client` is on (a job
 * waiting out a retry's backoff is not waited for), `timeoutMs` at most: how many there were at
 * first and how long they took to run (ms), or undefined when there were none.
 */
export async function domainEventJobsDrained(client: pg.Client, timeoutMs: number): Promise<{ jobs: number; ms: number } | undefined> {
  const started = performance.now();
  let jobs: number | undefined;
  for (;;) {
    const [row] = (await client.query<{ n: number }>("select count(*)::int as n from pgboss.job where name like 'events.%' and state < 'completed' and start_after <= now()")).rows;
    jobs ??= row!.n;
    if (row!.n === 0) return jobs === 0 ? undefined : { jobs, ms: Math.round(performance.now() - started) };
    if (performance.now() - started > timeoutMs) throw new Error(`the domain events' jobs did not drain within ${timeoutMs / 1000} s (${row!.n} left)`);
    await sleep(20);
  }
}
