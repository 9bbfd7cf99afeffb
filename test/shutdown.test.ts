// The real server process (the build `npm start` runs) under SIGTERM: requests in flight finish with their
// normal status, new connections are refused, the process exits 0.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import t from 'tap';
import { createAgoraClient, unwrap } from 'agora-sdk';
import { checkedFetch, createTestDatabase, uniqueHandle } from './helpers/agora.ts';
import { START_MS } from './helpers/deadlines.ts';
import { eventually, lockRows, waitForLockWaiters } from './helpers/locks.ts';
import { freePort } from './helpers/postgres.ts';
import { projectRoot, serverArgs, serverEnv } from './helpers/server-command.ts';

/** 'open' if something accepts a TCP connection on the port, 'refused' if not. */
function tryConnect(port: number): Promise<'open' | 'refused'> {
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done('open');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? done('refused') : fail(error)));
  });
}

t.test('SIGTERM: in-flight requests complete, new connections are refused, exit code 0', async (t) => {
  const databaseUrl = await createTestDatabase(t);
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, serverArgs(), {
    cwd: projectRoot,
    env: {
      ...process.env,
      ...serverEnv(),
      DATABASE_URL: databaseUrl,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '15000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const logs: Record<string, any>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ msg: line });
    }
  });
  await eventually('the server to listen', () => {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${stderr}`);
    return logs.some((l) => /^docs at /.test(l.msg ?? '')) ? true : undefined;
  }, START_MS);

  const baseUrl = `http://127.0.0.1:${port}/v1`;
  const anonymous = createAgoraClient({ baseUrl, fetch: checkedFetch() });
  const users = [];
  for (let i = 0; i < 3; i++) {
    const handle = uniqueHandle('drain');
    const email = `${handle}@example.com`;
    const password = 'correct horse battery staple';
    const account = await unwrap(anonymous.POST('/accounts', { body: { email, password, handle, displayName: handle } }));
    const { token } = await unwrap(anonymous.POST('/sessions', { body: { email, password } }));
    users.push({ account, client: createAgoraClient({ baseUrl, token, fetch: checkedFetch() }) });
  }

  // Slow requests, honestly: their deletes wait for row locks that this test holds.
  const locks = await lockRows(databaseUrl, 'accounts.account', users.map((u) => u.account.id));
  t.teardown(() => locks.release());
  const inFlight = users.map(({ account, client }) => client.DELETE('/accounts/{accountId}', { params: { path: { accountId: account.id } } }));
  await waitForLockWaiters(databaseUrl, users.length);

  child.kill('SIGTERM');
  await eventually('the shutdown to begin', () => (logs.some((l) => l.signal === 'SIGTERM') ? true : undefined));
  t.equal(await eventually('the listener to close', async () => ((await tryConnect(port)) === 'refused' ? true : undefined), 5000), true, 'new connections are refused');
  t.equal(child.exitCode, null, 'still running while requests are in flight');

  await locks.release();
  const results = await Promise.all(inFlight);
  t.same(results.map((r) => r.response.status), [204, 204, 204], 'every in-flight request finished normally');

  const { code, signal } = await Promise.race([
    exited,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error('the server did not exit within 20 s')), 20_000).unref()),
  ]);
  t.equal(signal, null);
  t.equal(code, 0, `exit code 0${stderr ? `; stderr: ${stderr}` : ''}`);

  const deletions = logs.filter((l) => l.msg === 'request completed' && l.operation === 'deleteAccount');
  t.same(deletions.map((l) => l.status), [204, 204, 204], 'and each was logged');
  t.ok(logs.some((l) => l.msg === 'stopped'), 'the pool was closed and the process said so');
  t.same(logs.filter((l) => l.level >= 50), [], 'no errors logged');
});
