// The server as a process, with its embedded PostgreSQL: SIGTERM, SIGINT and SIGHUP, sent to
// `npm start` (as a process manager, a container runtime or a closing terminal does) or to node
// itself, all end in the graceful shutdown and leave no process behind; a start that fails
// (the port taken) says so in one line, stops the database, and exits 1 at once.
import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { START_MS } from './helpers/deadlines.ts';
import { eventually } from './helpers/locks.ts';
import { freePort } from './helpers/postgres.ts';
import { embeddedDataDir, isRunning, postmasterPid, spawnServer, whenListening } from './helpers/server-process.ts';

// Longer than the default: six server processes started one after the other, each with its embedded PostgreSQL.
t.setTimeout(300_000);

const dataDir = embeddedDataDir(t); // one cluster, initialised by the first start, for every case

const cases = [
  { via: 'npm', signal: 'SIGTERM', logged: 'SIGTERM' }, // a process manager, `kill`, a container runtime
  { via: 'npm', signal: 'SIGINT', logged: 'SIGINT' },
  { via: 'npm', signal: 'SIGHUP', logged: 'parent exited' }, // npm dies of it without forwarding it
  { via: 'node', signal: 'SIGHUP', logged: 'SIGHUP' }, // a closing terminal
] as const;

for (const { via, signal, logged } of cases) {
  t.test(`${signal} to ${via === 'npm' ? '`npm start`' : 'node'}: graceful shutdown, nothing left running`, async (t) => {
    const server = await spawnServer(t, { via, dataDir });
    const { nodePid } = await whenListening(server);
    const postgresPid = postmasterPid(dataDir);
    t.ok(postgresPid, 'the embedded PostgreSQL runs');
    const health = await fetch(`${server.origin}/healthz`);
    t.equal(health.status, 200);
    await health.body?.cancel();

    process.kill(via === 'npm' ? server.child.pid! : nodePid, signal);
    const exit = await Promise.race([
      server.exited,
      new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${via} did not exit within 60 s`)), 60_000).unref()),
    ]);
    if (via === 'node') t.same(exit, { code: 0, signal: null }, `node exits 0; stderr: ${server.stderr()}`);
    await eventually('node to be gone', () => (isRunning(nodePid) ? undefined : true), 30_000);
    await eventually('the embedded PostgreSQL to be gone', () => (isRunning(postgresPid!) ? undefined : true), 30_000);
    t.ok(server.logs.some((l) => l.msg?.startsWith('shutting down') && l.signal === logged), `the shutdown began on ${logged}`);
    t.ok(server.logs.some((l) => l.msg === 'stopped'), 'and finished');
    t.same(server.logs.filter((l) => l.level >= 50), [], 'no errors logged');
    const refused = await fetch(`${server.origin}/healthz`).then(() => false, () => true);
    t.ok(refused, 'nothing answers on the port');
  });
}

t.test('a start that fails (the port is taken) says so in one line, stops the database, exits 1 at once', async (t) => {
  const squatter = createServer();
  squatter.listen(await freePort(), '127.0.0.1');
  await once(squatter, 'listening');
  t.teardown(() => squatter.close());
  const port = (squatter.address() as { port: number }).port;

  const server = await spawnServer(t, { via: 'node', dataDir, env: { PORT: String(port) } });
  const failedAt = await eventually('the failure to be reported', () => (/EADDRINUSE/.test(server.stderr()) ? Date.now() : undefined), START_MS);
  const exit = await Promise.race([
    server.exited,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error('no exit within 30 s of the failure')), 30_000).unref()),
  ]);
  const tookMs = Date.now() - failedAt;
  t.same(exit, { code: 1, signal: null }, 'exit code 1');
  t.ok(tookMs < 5000, `exited ${tookMs} ms after reporting the failure`);
  t.same(
    server.stderr().trim().split('\n'),
    [`agora: cannot listen on 127.0.0.1:${port}: the address is already in use (EADDRINUSE); is another server running there?`],
    'one line says what is wrong',
  );
  t.same(server.logs.filter((l) => l.level >= 50), [], 'no error or fatal log lines beside it');
  t.equal(postmasterPid(dataDir), undefined, 'the embedded PostgreSQL was stopped');
});
