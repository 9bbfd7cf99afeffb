// How `npm start` runs the server, read from package.json:
// `[NAME=value …] exec node <flags> dist/main.js`, after its `prestart` build. Tests that need a
// real server process and the bench start it the same way, so they run the build users run, with
// the same environment settings (MALLOC_ARENA_MAX) and Node flags.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname, '../..');

/** `npm start`'s command: `[NAME=value …] exec node [--flag …] dist/main.js`. */
const START_SCRIPT = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)exec node((?:\s+--\S+)*)\s+(dist\/main\.js)$/;

function startScript(): RegExpExecArray {
  const scripts = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  // `exec`: npm runs the script through `sh -c`; the shell becomes node, so the signals npm
  // forwards to its child reach the server (test/processes.test.ts).
  const match = START_SCRIPT.exec(scripts.start ?? '');
  if (!match) throw new Error(`package.json's start script should be "[NAME=value …] exec node [--flag …] dist/main.js", got "${scripts.start}"`);
  return match;
}

/** The arguments to give `process.execPath` (Node's flags, then the entry point). */
export function serverArgs(): string[] {
  const match = startScript();
  return [...match[2]!.split(/\s+/).filter(Boolean), match[3]!];
}

/** The environment the start script sets before Node starts (add it to a spawned server's). */
export function serverEnv(): Record<string, string> {
  const pairs = startScript()[1]!.split(/\s+/).filter(Boolean);
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}
