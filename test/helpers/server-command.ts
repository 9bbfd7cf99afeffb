// How `npm start` runs the server, read from package.json: `exec node <flags> dist/main.js`, after its
// `prestart` build. Tests that need a real server process and the bench start it the same way, so
// they run the build users run, with the same Node flags.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname, '../..');

/** The arguments to give `process.execPath` (Node's flags, then the entry point). */
export function serverArgs(): string[] {
  const scripts = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  // `exec`: npm runs the script through `sh -c`; the shell becomes node, so the signals npm
  // forwards to its child reach the server (test/processes.test.ts).
  const match = /^exec node((?:\s+--\S+)*)\s+(dist\/main\.js)$/.exec(scripts.start ?? '');
  if (!match) throw new Error(`package.json's start script should be "exec node [--flag …] dist/main.js", got "${scripts.start}"`);
  return [...match[1]!.split(/\s+/).filter(Boolean), match[2]!];
}
