// The embedded PostgreSQL is supervised: killed under a running server, it is restarted, and
// the server (its pool, its cache-invalidation listener, its health check) recovers by itself,
// saying in its log what happened.
import t from 'tap';
import { checkedFetch, uniqueHandle } from './helpers/agora.ts';
import { START_MS } from './helpers/deadlines.ts';
import { eventually } from './helpers/locks.ts';
import { freePort } from './helpers/postgres.ts';
import { embeddedDataDir, isRunning, postmasterPid, spawnServer, whenListening } from './helpers/server-process.ts';

// The waits below, each bounded, together: the server's start (START_MS, with its embedded
// PostgreSQL's initdb), then 30 + 10 + 60 + 60 s at most for the listener, the kill, the restart
// and the reconnection, and a shutdown. Was 180 s, START_MS alone: a slow start left the rest of
// the test a fraction of its own deadlines.
t.setTimeout(START_MS + 180_000);

t.test('SIGKILL of the embedded postmaster: restarted, and the API answers 2xx again by itself', async (t) => {
  const dataDir = embeddedDataDir(t);
  const metricsPort = await freePort();
  const server = await spawnServer(t, { via: 'node', dataDir, env: { METRICS_PORT: String(metricsPort), HEALTH_CHECK_INTERVAL_MS: '1000' } });
  await whenListening(server);
  const fetchChecked = checkedFetch();
  /** The last sign-up's answer, for a failure's message. */
  let lastSignUp = 'none yet';
  const signUp = async () => {
    const handle = uniqueHandle('phoenix');
    const response = await fetchChecked(new Request(`${server.origin}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `${handle}@example.com`, password: 'correct horse battery staple', handle, displayName: handle }),
    }));
    lastSignUp = `${response.status} ${(await response.text()).slice(0, 300)}`;
    return response.status;
  };
  /**
   * `waiting`, or its failure with what the server said: the last sign-up's answer and the
   * server's last warnings and errors (CI keeps only the end of a run's output, where the runner
   * repeats a failure's message).
   */
  const explained = async <T>(waiting: Promise<T>): Promise<T> => {
    try {
      return await waiting;
    } catch (error) {
      const said = server.logs
        .filter((l) => l.level >= 40)
        .slice(-8)
        .map((l) => `${l.component ?? ''} ${l.msg ?? ''} ${l.err?.message ?? ''}`.trim());
      const exit = server.child.exitCode ?? server.child.signalCode;
      throw new Error(`${(error as Error).message}; the last sign-up: ${lastSignUp}; the server ${exit === null ? 'runs' : `exited (${exit})`}; its last warnings and errors: ${said.join(' | ') || 'none'}`, { cause: error });
    }
  };
  const listenerUp = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return /^agora_cache_invalidation_listener_up 1$/m.test(text);
  };
  t.equal(await explained(signUp()), 201, 'serving before');
  t.ok(await explained(eventually('the invalidation listener to be up', async () => ((await listenerUp()) ? true : undefined), 30_000)));

  const killed = postmasterPid(dataDir)!;
  t.ok(killed, 'the postmaster runs');
  process.kill(killed, 'SIGKILL');
  await explained(eventually('the postmaster to die', () => (isRunning(killed) ? undefined : true), 10_000));

  // Bounded: the restart (with backoff while the old server's children leave), then the next
  // health check and the listener's reconnection.
  const status = await explained(eventually('a sign-up to succeed again', async () => ((await signUp()) === 201 ? 201 : undefined), 60_000));
  t.equal(status, 201, 'the API answers 2xx again');
  const restarted = postmasterPid(dataDir);
  t.ok(restarted !== undefined && restarted !== killed, `another postmaster runs (pid ${restarted})`);
  t.ok(await explained(eventually('the invalidation listener to reconnect', async () => ((await listenerUp()) ? true : undefined), 60_000)), 'the cache invalidation listener is back');
  const ready = await fetch(`${server.origin}/readyz`);
  t.equal(ready.status, 200, 'ready');
  await ready.body?.cancel();

  const died = server.logs.find((l) => l.component === 'database' && l.msg?.includes('exited unexpectedly'));
  t.match(died, { level: 50, postgresPid: killed, signal: 'SIGKILL' }, 'the log says the database died, and how');
  const back = server.logs.find((l) => l.component === 'database' && l.msg?.includes('accepts connections again'));
  t.match(back, { level: 30, postgresPid: restarted }, 'and that it is back');

  process.kill(server.logs.find((l) => typeof l.pid === 'number' && l.msg?.startsWith('docs at'))!.pid, 'SIGTERM');
  t.same(await server.exited, { code: 0, signal: null }, 'the server still shuts down cleanly');
  t.equal(postmasterPid(dataDir), undefined, 'stopping the restarted database');
});
