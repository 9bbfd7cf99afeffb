// `npm test`: one PostgreSQL for the whole run (embedded unless DATABASE_URL is set), a template
// database migrated once, then the test files (test/runner.ts), each a tap test in a process of its
// own; each clones the template into its own database. `npm test -- test/a.test.ts …` runs only
// those files.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { persistence } from '../src/domains/index.ts';
import { migrate } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/persistence/embedded-postgres.ts';
import { databaseUrl, freePort, runAdmin } from './helpers/postgres.ts';
import { findTestFiles, runTests } from './runner.ts';

const TEMPLATE = `agora_test_template_${process.pid}`;
/**
 * Connections the run may hold at once: test files run in parallel (package.json's tap.jobs),
 * and one that starts three instances with their job queues holds about 35 (each instance's
 * pool, pg-boss's, its listener and the test's own). PostgreSQL's default of 100 is reached by
 * three such files together, and a server refused a connection ("too many clients") answers
 * 503 as it should: the tests would then fail for the run's sake, not the product's.
 */
const MAX_CONNECTIONS = 300;

const files = process.argv.slice(2);
const option = files.find((arg) => arg.startsWith('-'));
if (option) {
  console.error(`npm test takes test files only (npm test -- test/a.test.ts …), not options: ${option}`);
  process.exit(2);
}

let embedded: EmbeddedDatabase | undefined;
let adminUrl: string;
if (process.env.DATABASE_URL) {
  adminUrl = process.env.DATABASE_URL;
  console.log(`# tests use the PostgreSQL server of DATABASE_URL`);
  const allowed = Number((await runAdmin(adminUrl, 'show max_connections'))[0]?.max_connections);
  if (allowed < MAX_CONNECTIONS) {
    console.log(`# warning: that server allows ${allowed} connections (max_connections); test files running together may need up to ${MAX_CONNECTIONS}, and a refused connection fails a test with 503`);
  }
} else {
  // Under the system temp folder, which the `postgres` user can always reach.
  const parent = mkdtempSync(join(tmpdir(), 'agora-test-'));
  chmodSync(parent, 0o755); // mkdtemp makes it 0700
  const dataDir = join(parent, 'postgres');
  embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres', settings: { max_connections: String(MAX_CONNECTIONS) } });
  adminUrl = embedded.url;
  process.on('exit', () => rmSync(parent, { recursive: true, force: true }));
  console.log(`# tests use an embedded PostgreSQL in ${dataDir}`);
}

const admin = (sql: string) => runAdmin(adminUrl, sql);

let code = 1;
try {
  await admin(`drop database if exists "${TEMPLATE}"`);
  await admin(`create database "${TEMPLATE}"`);
  const orm = await openDatabase({ clientUrl: databaseUrl(adminUrl, TEMPLATE), poolMax: 1, persistence });
  await migrate(orm);
  await orm.close(true);

  const { tap: settings } = JSON.parse(readFileSync(resolve('package.json'), 'utf8')) as { tap: { jobs: number; timeout: number } };
  const results = await runTests(files.length > 0 ? files : findTestFiles(resolve('.')), {
    root: resolve('.'),
    jobs: settings.jobs,
    timeoutSeconds: settings.timeout,
    env: {
      ...process.env,
      // tap's TypeScript plugin: Node strips the types itself.
      TAP_TYPE_STRIP_ONLY: '1',
      // Node's compile cache (type stripping's output and V8's code), shared by every process of
      // the run and kept between runs: each test file's process, and each server a test starts,
      // loads much the same modules. A module whose source changed is compiled afresh. It saves
      // a process about a third of its loading's CPU (src/server.ts: 1.95 s to 1.4 s), and the
      // run is bound by its CPU (test files and servers on two cores).
      NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'agora-node-compile-cache'),
      AGORA_TEST_ADMIN_URL: adminUrl,
      AGORA_TEST_TEMPLATE: TEMPLATE,
    },
    write: (text) => void process.stdout.write(text),
  });
  const failed = results.filter((r) => !r.ok);
  const pass = results.reduce((sum, r) => sum + r.pass, 0);
  const fail = results.reduce((sum, r) => sum + r.fail, 0);
  console.log(`# { total: ${pass + fail}, pass: ${pass}${fail ? `, fail: ${fail}` : ''} }`);
  // What failed, again, at the end: CI may keep only the end of the output.
  for (const r of failed) {
    console.log(`# failed: ${r.file}${r.reason ? ` (${r.reason})` : ''}`);
    for (const failure of r.failures ?? []) console.log(failure.replace(/^/gm, '#   '));
  }
  // CI reads a plain "N passed, N failed" line.
  console.log(`\ntests: ${pass} passed, ${fail} failed`);
  code = failed.length === 0 ? 0 : 1;
} finally {
  await admin(`drop database if exists "${TEMPLATE}"`).catch(() => {});
  await embedded?.stop();
}
process.exit(code);
