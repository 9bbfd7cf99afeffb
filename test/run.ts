// `npm test`: one PostgreSQL for the whole run (embedded unless DATABASE_URL is set), a template
// database migrated once, then tap. Each test file clones the template into its own database.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { persistence } from '../src/domains/index.ts';
import { migrate } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/persistence/embedded-postgres.ts';
import { databaseUrl, freePort, runAdmin } from './helpers/postgres.ts';

const TEMPLATE = `agora_test_template_${process.pid}`;

let embedded: EmbeddedDatabase | undefined;
let adminUrl: string;
if (process.env.DATABASE_URL) {
  adminUrl = process.env.DATABASE_URL;
  console.log(`# tests use the PostgreSQL server of DATABASE_URL`);
} else {
  // Under the system temp folder, which the `postgres` user can always reach.
  const parent = mkdtempSync(join(tmpdir(), 'agora-test-'));
  chmodSync(parent, 0o755); // mkdtemp makes it 0700
  const dataDir = join(parent, 'postgres');
  embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
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

  const tap = spawn(resolve('node_modules/.bin/tap'), process.argv.slice(2), {
    stdio: ['inherit', 'pipe', 'inherit'],
    env: {
      ...process.env,
      TAP_TYPE_STRIP_ONLY: '1',
      AGORA_TEST_ADMIN_URL: adminUrl,
      AGORA_TEST_TEMPLATE: TEMPLATE,
    },
  });
  let tail = '';
  tap.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString()).slice(-4096);
  });
  code = await new Promise<number>((done) => tap.on('close', (c, signal) => done(c ?? (signal ? 1 : 0))));
  // tap's own summary is a comment; CI reads a plain "N passed, N failed" line.
  const summary = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?[^}]*\}/.exec(tail);
  if (summary) console.log(`\ntests: ${summary[2] ?? 0} passed, ${summary[3] ?? 0} failed`);
} finally {
  await admin(`drop database if exists "${TEMPLATE}"`).catch(() => {});
  await embedded?.stop();
}
process.exit(code);
