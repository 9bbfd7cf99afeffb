// The local topology (scripts/topology.ts, `npm run topology`): deploy/compose.yaml's processes
// on 127.0.0.1, PgBouncer in transaction mode, Redis, the social domain apart, three API instances,
// a worker and a round-robin balancer, with traffic through them. Run bounded here: it must end
// with every check passed, no 5xx, the requests spread evenly, one rate-limit budget across the
// instances, and its database dropped. Settings the build does not know yet (DATABASE_DIRECT_URL,
// SERVE_DOMAINS) make the script refuse to start rather than run a topology that is not the one
// described; the test then runs the topology without them, and checks the refusal.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pg from 'pg';
import { projectRoot } from './helpers/server-command.ts';

// Six processes, PgBouncer and the traffic on a busy two-core machine: about 20 s alone.
t.setTimeout(180_000);

const adminUrl = process.env.AGORA_TEST_ADMIN_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const config = readFileSync(join(projectRoot, 'src/config.ts'), 'utf8');
const knowsDirect = config.includes('DATABASE_DIRECT_URL');
const knowsSocialApart = config.includes('SERVE_DOMAINS') && config.includes('SOCIAL_SERVICE_URL');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function topology(args: string[], env: Record<string, string> = {}, timeoutMs = 150_000): Promise<Run> {
  const child = spawn(process.execPath, ['scripts/topology.ts', ...args], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, DATABASE_URL: adminUrl, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function topologyDatabases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return (await client.query(`select datname from pg_database where datname like 'agora\\_topology\\_%'`)).rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

t.test('the topology runs traffic through three instances behind a balancer, and passes every check', async (t) => {
  const flags = [...(knowsDirect ? [] : ['--no-pgbouncer']), ...(knowsSocialApart ? [] : ['--no-social-apart'])];
  if (flags.length > 0) t.comment(`this build lacks ${flags.join(' ')}: running without them`);
  const RATE_LIMIT = 40;
  const result = await topology([...flags, '--users', '6', '--storm-keys', '15', '--rate-limit', String(RATE_LIMIT)]);
  t.equal(result.code, 0, `the script passes: ${result.stdout.slice(-3000)}${result.stderr.slice(-2000)}`);
  t.match(result.stdout, /^topology: all checks passed$/m);
  t.notMatch(result.stdout, /^FAILED:/m, 'no check failed');

  const line = /^TOPOLOGY-SUMMARY (.+)$/m.exec(result.stdout);
  t.ok(line, 'a summary line');
  if (!line) return;
  const summary = JSON.parse(line[1]!);
  t.same(summary.topology.apiInstances, 3);
  t.equal(summary.topology.socialApart, knowsSocialApart);
  t.equal(summary.topology.pgbouncer, knowsDirect ? 'transaction mode' : 'none');
  t.equal(summary.failures, 0);
  const statuses = Object.keys(summary.statuses).map(Number);
  t.same(statuses.filter((s) => s >= 500), [], 'no 5xx');
  if (knowsSocialApart) t.ok(summary.outage503 >= 3, 'with the social server stopped, every instance answered 503');
  else t.equal(summary.outage503, 0);
  t.ok(summary.statuses['201'] >= 6 * 2 + 6 * 3 + 15, 'sign-ups, friend requests, posts and the storm were created');
  t.equal(summary.statuses['429'], 2 * RATE_LIMIT, 'three times the limit sent from one address: two thirds refused');
  const spread = Object.values(summary.perInstance) as number[];
  t.equal(spread.length, 3);
  t.ok(Math.max(...spread) - Math.min(...spread) <= 1, `round robin: ${spread.join(', ')}`);
  t.equal(spread.reduce((a, b) => a + b, 0) <= summary.requests, true, 'every request through the balancer was counted');
  t.ok(summary.databaseConnections > 0, 'the database connections were counted');
  if (knowsDirect) t.match(result.stdout, /PgBouncer: \d+ client connections from the processes share \d+ server connections/);
  t.match(result.stdout, /refused within: api-0 \d+ ms, api-1 \d+ ms, api-2 \d+ ms \(bound 1000 ms; signed out through api-\d\)/, 'the sign-out reached every instance');

  const database = /database (agora_topology_\w+) on /.exec(result.stdout)?.[1];
  t.ok(database, 'the script named its database');
  t.notOk((await topologyDatabases()).includes(database!), 'and dropped it');
});

t.test('a setting the build does not know, or a server that is not there: a clear refusal, nothing left behind', async (t) => {
  if (!knowsDirect) {
    const result = await topology(['--no-social-apart']);
    t.equal(result.code, 2);
    t.match(result.stderr, /this build does not know DATABASE_DIRECT_URL .*run with --no-pgbouncer/);
  }
  if (!knowsSocialApart) {
    const result = await topology(['--no-pgbouncer']);
    t.equal(result.code, 2);
    t.match(result.stderr, /this build does not know SERVE_DOMAINS \/ SOCIAL_SERVICE_URL .*run with --no-social-apart/);
  }
  const bad = await topology(['--users', '0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--users must be an integer from 1 to 200, got "0"/);

  // No Redis there: refused after the database was made, which is dropped again.
  const before = await topologyDatabases();
  const noRedis = await topology(['--no-pgbouncer', '--no-social-apart'], { REDIS_URL: 'redis://127.0.0.1:1' });
  t.equal(noRedis.code, 2);
  t.match(noRedis.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(REDIS_URL\)/);
  const database = /database (agora_topology_\w+) on /.exec(noRedis.stdout)?.[1];
  t.ok(database && !before.includes(database));
  t.notOk((await topologyDatabases()).includes(database!), 'its database is dropped');
});
