// How `npm start` runs the server, read from package.json:
// `[NAME=value …] exec node <flags> dist/main.js`, after its `prestart` build. Tests that need a
// real server process and the bench start it the same way, so they run the build users run, with
// the same environment settings (MALLOC_ARENA_MAX) and Node flags.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname, '../..');

/** `npm start`'s command: `[NAME=value …] exec node [--flag …] dist/main.js`. */
const START_SCRIPT = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)exec node((?:\s+--\S+)*)\s+(dist\/main\.js)$/;

function startScript(root: string): RegExpExecArray {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  // `exec`: npm runs the script through `sh -c`; the shell becomes node, so the signals npm
  // forwards to its child reach the server (test/processes.test.ts).
  const match = START_SCRIPT.exec(scripts.start ?? '');
  if (!match) throw new Error(`${join(root, 'package.json')}: the start script should be "[NAME=value …] exec node [--flag …] dist/main.js", got "${scripts.start}"`);
  return match;
}

/** The arguments to give `process.execPath` (Node's flags, then the entry point); `root`: another checkout's. */
export function serverArgs(root = projectRoot): string[] {
  const match = startScript(root);
  return [...match[2]!.split(/\s+/).filter(Boolean), match[3]!];
}

/** The environment the start script sets before Node starts (add it to a spawned server's); `root`: another checkout's. */
export function serverEnv(root = projectRoot): Record<string, string> {
  const pairs = startScript(root)[1]!.split(/\s+/).filter(Boolean);
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}
