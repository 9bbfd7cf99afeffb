// The shared rate-limit store (src/http/rate-limit-store.ts) against the machine's Redis, with an
// ACL user of this run's own: a server that answers PING but refuses the limiter's commands (an
// ACL without them; out of memory and a read-only replica refuse writes the same way). The
// store takes it for down once, and stays down without flapping while checks keep coming: its
// outage probe is a write, as the checks are. Once the server accepts writes again, the store
// comes back within a few probes, logged once. And only a process that serves the public API
// connects to Redis at all: not a worker alone, not a domain server.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import t from 'tap';
import { boot } from '../src/boot.ts';
import { loadConfig } from '../src/config.ts';
import { loggerOptions } from '../src/http/logger.ts';
import { SharedRateLimitStore } from '../src/http/rate-limit-store.ts';
import type { Log } from '../src/log.ts';
import { eventually } from './helpers/locks.ts';
import { cloneTemplate } from './helpers/postgres.ts';

const admin = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
await admin.connect();
const user = `agora-test-${randomUUID().slice(0, 8)}`;
const prefix = `agora-rate-limit-test-${user}:`;
// What ioredis needs to connect (HELLO/AUTH, CLIENT SETNAME, the INFO of its ready check) and
// PING: no write.
await admin.call('ACL', 'SETUSER', user, 'on', 'nopass', 'resetkeys', `~${prefix}*`, '-@all', '+ping', '+info', '+client', '+hello', '+auth', '+select');
t.teardown(async () => {
  await admin.call('ACL', 'DELUSER', user);
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

const lines: { level: string; msg: string }[] = [];
const record = (level: string) => (_fields: unknown, msg?: string) => void lines.push({ level, msg: msg ?? '' });
const log = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error'), child: () => log } as unknown as Log;
const changes: boolean[] = [];
const store = new SharedRateLimitStore({ url: `redis://${user}@127.0.0.1:6379`, keyPrefix: prefix, log, onChange: (up) => void changes.push(up) });
t.teardown(() => store.close());

t.test('a server that answers PING but refuses writes: down once, no flapping; back once it accepts them', async (t) => {
  await store.start();
  t.ok(store.available, 'connected: up');
  const key = `${prefix}counted`;
  const check = () => store.check(() => store.redis.incr(key));
  t.equal(await check(), undefined, 'a refused check lets the request through unchecked');
  t.notOk(store.available, 'and the store is down');
  // Checks keep coming for 3 s (6 probe intervals): each is skipped while the store is down.
  for (const until = Date.now() + 3000; Date.now() < until; ) {
    await check();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.notOk(store.available, 'still down: the probe writes, and the write is refused');
  t.same(changes, [true, false], 'one transition down, no flapping');
  t.equal(lines.filter((l) => l.level === 'warn').length, 1, 'one line logged for the outage');

  await admin.call('ACL', 'SETUSER', user, '+@all');
  await eventually('the store back', () => (store.available ? true : undefined), 10_000);
  t.same(changes, [true, false, true]);
  t.match(lines.at(-1), { level: 'warn', msg: 'the rate-limit store answers again: limits are shared again' });
  t.equal(await check(), 1, 'checks are counted in Redis again');
});

t.test('only a process that serves the public API connects to Redis: not a worker alone, not a domain server', async (t) => {
  const { url, drop } = await cloneTemplate();
  t.teardown(drop);
  const name = `agora-rate-limit:${hostname()}:${process.pid}`;
  const connected = async () => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
  const start = (env: Record<string, string>, roles?: { api: boolean }) =>
    boot(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: url, MAX_EVENT_LOOP_DELAY_MS: '0', ...env }), {
      logger: loggerOptions({ level: 'warn', pretty: false, stream: { write: () => {} } }),
      databaseUrl: url,
      poolMax: 3,
      listen: { host: '127.0.0.1', port: 0, metricsPort: 0 },
      migrate: false,
      jobs: roles !== undefined,
      ...(roles && { roles }),
    });
  // This process's connections so far (the store of the test above holds one).
  const before = await connected();
  const worker = await start({}, { api: false });
  const domainServer = await start({ SERVE_DOMAINS: 'social', INTERNAL_API_TOKEN: 'x'.repeat(32) });
  t.equal(await connected(), before, 'a worker alone and a domain server open none');
  await worker.close();
  await domainServer.close();
  const api = await start({});
  t.equal(await connected(), before + 1, 'an API instance opens one');
  await api.close();
});
