// The live stream served apart (SERVE_DOMAINS=stream) reading one of its sources, the messages,
// from a messages server of its own (MESSAGES_SERVICE_URL on the stream server): three
// processes, one database, real HTTP between them. When the messages server goes away, the
// stream server is still there: a stream that opens meanwhile is refused 503 with Retry-After
// (not a 500), an open stream ends when it next reads its sources, and both are reported as the
// messages server's outage, not the stream server's: the instance keeps the stream server up
// (agora_outbound_target_up), neither logs an error, and the end is a clean one (logged at info
// by the instance, a warning by the stream server). Streams open again once it is back.
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { boot, type Booted } from '../src/boot.ts';
import { loadConfig } from '../src/config.ts';
import { loggerOptions } from '../src/http/logger.ts';
import { startDomainApart } from './helpers/domain-apart.ts';
import { freePort } from './helpers/postgres.ts';
import { stream, eventually } from './helpers/stream-source.ts';
import { parseMetrics, total } from './helpers/metrics.ts';

const messagesPort = await freePort();
const messagesUrl = `http://127.0.0.1:${messagesPort}`;
const apart = await startDomainApart(t, 'stream', { apiJobs: true, serverEnv: { MESSAGES_SERVICE_URL: messagesUrl, STREAM_HEARTBEAT_SECONDS: '1' } });
const { api } = apart;
const messagesLogs: Record<string, any>[] = [];
const startMessages = (): Promise<Booted> =>
  boot(loadConfig({ SERVE_DOMAINS: 'messages', INTERNAL_API_TOKEN: apart.token, DATABASE_URL: api.databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' }), {
    logger: loggerOptions({ level: 'info', pretty: false, stream: { write: (line: string) => void messagesLogs.push(JSON.parse(line)) } }),
    databaseUrl: api.databaseUrl,
    poolMax: 5,
    listen: { host: '127.0.0.1', port: messagesPort, metricsPort: 0 },
    migrate: false,
    jobs: false,
  });
let messages: Booted | undefined = await startMessages();
t.teardown(async () => {
  await messages?.close();
});

const [ada, bob] = await Promise.all([api.signUp(), api.signUp()]);
const streamUp = async () => total(await api.scrape(), 'agora_outbound_target_up', { target: 'stream' });

t.test('the messages server stops: the stream server refuses new streams with 503 and ends open ones, as its source is down, not itself', async (t) => {
  const held = await stream(api, bob.token);
  t.teardown(() => held.close());
  t.equal(held.response.status, 200);
  await held.until('ready', () => held.events.length >= 1);

  await messages!.close();
  messages = undefined;

  const refused = await stream(api, bob.token);
  refused.close();
  t.equal(refused.response.status, 503, 'a stream that opens while a source is down: 503');
  t.match(refused.response.headers.get('retry-after'), /^\d+$/, 'with Retry-After');
  const problem = JSON.parse(await refused.response.text());
  t.equal(problem.type, 'urn:agora:problem:service-unavailable');

  // A notification for Bob wakes his open stream, which then reads all its sources: the messages fail.
  await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  await held.until('the open stream to end', () => held.isEnded(), 30_000);
  t.ok(held.isEnded(), 'the open stream ended');
  await eventually('the end logged', async () => api.logs.some((l) => l.msg === 'event stream ended: a domain it reads is unavailable'));
  t.ok(
    api.logs.some((l) => l.msg === 'event stream ended: a domain it reads is unavailable' && l.target === 'messages'),
    'the instance names the messages server as the domain unavailable',
  );
  t.notOk(api.logs.some((l) => /the stream domain server is unreachable/.test(l.msg)), 'not the stream server');
  t.equal(await streamUp(), 1, 'the stream server is still up to the instance');
  t.notOk(api.logs.some((l) => l.level >= 50), 'the instance logged no error');
  t.notOk(apart.server.logs.some((l) => l.level >= 50), 'nor did the stream server');
  t.ok(
    apart.server.logs.some((l) => l.msg === 'internal stream ended: reading it failed with a domain error' && l.level === 40),
    'the stream server ended the stream with a warning, telling the instance why',
  );

  messages = await startMessages();
  const again = await stream(api, bob.token);
  t.teardown(() => again.close());
  t.equal(again.response.status, 200, 'streams open again once the messages server is back');
  await again.until('ready', () => again.events.length >= 1);
});
