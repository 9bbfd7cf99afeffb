// GET /v1/stream's transport: heartbeats, slow readers dropped, the cap on streams per account
// (across instances), HTTP/2, and shutdown.
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import t from 'tap';
import { startAgora } from './helpers/agora.ts';
import { total } from './helpers/metrics.ts';
import { collectGarbage } from './helpers/gc.ts';
import { eventually, stream, TABLE, testSource } from './helpers/stream-source.ts';
import { WAKE_STREAMS_SQL } from '../src/persistence/stream-rows.ts';

t.setTimeout(300_000);

t.test('heartbeats keep an idle stream alive', async (t) => {
  const agora = await startAgora(t, { STREAM_HEARTBEAT_SECONDS: '1' });
  const alice = await agora.signUp();
  const s = await stream(agora, alice.token);
  t.teardown(() => s.close());
  await s.until('two heartbeats', () => s.comments.filter((c) => c === 'heartbeat').length >= 2);
  t.notOk(s.isEnded(), 'the stream stays open');
});

t.test('a client that does not read is disconnected, not buffered without bound', async (t) => {
  const agora = await startAgora(t, { STREAM_MAX_BUFFERED_BYTES: String(64 * 1024) });
  const source = await testSource(t, agora);
  const alice = await agora.signUp();
  const { port } = new URL(agora.origin);
  const socket = netConnect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  let received = '';
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  socket.write(`GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\nAccept: text/event-stream\r\n\r\n`);
  const onData = (chunk: Buffer) => void (received += chunk.toString());
  socket.on('data', onData);
  await eventually('the stream to open', async () => received.includes('event: ready'));
  // From now on the client reads nothing.
  socket.off('data', onData);
  socket.pause();

  // Far more than the socket buffers of both sides and the bound together.
  const body = 'x'.repeat(4000);
  await source.pool.query(
    `insert into ${TABLE.table} (account_id, body) select $1, $2 || n from generate_series(1, 8000) n`,
    [alice.account.id, body],
  );
  await source.pool.query(WAKE_STREAMS_SQL, [alice.account.id]);
  await eventually('the slow client to be dropped', async () => {
    const metrics = await agora.scrape();
    return total(metrics, 'agora_stream_slow_client_disconnects_total') === 1;
  }, 60_000);
  socket.resume();
  await closed;
  t.ok(agora.logs.some((l) => l.msg === 'event stream client does not read; disconnected'), 'logged');
  await eventually('the stream to be closed', async () => total(await agora.scrape(), 'agora_stream_open') === 0);
});

t.test('open streams per account are capped: one more is 429 with Retry-After', async (t) => {
  const agora = await startAgora(t, { STREAM_MAX_PER_ACCOUNT: '2' });
  const other = await startAgora(t, { STREAM_MAX_PER_ACCOUNT: '2' }, { databaseUrl: agora.databaseUrl });
  const alice = await agora.signUp();
  const bob = await agora.signUp();
  const one = await stream(agora, alice.token);
  // The second on another instance: the cap holds across instances.
  const two = await stream(other, alice.token);
  t.teardown(() => (one.close(), two.close()));
  t.equal(one.response.status, 200);
  t.equal(two.response.status, 200);
  for (const server of [agora, other]) {
    const three = await stream(server, alice.token);
    t.equal(three.response.status, 429, 'a third is refused on either instance');
    t.match(three.response.headers.get('retry-after'), /^\d+$/);
    t.equal(((await three.response.json()) as { type: string }).type, 'urn:agora:problem:rate-limited');
  }
  const bobs = await stream(agora, bob.token);
  t.teardown(() => bobs.close());
  t.equal(bobs.response.status, 200, 'another account is not affected');

  // A full collection first: a stream closed after one must still end on the server (a fetch's
  // abort reached it only weakly through its Request, so this used to fail now and then).
  collectGarbage();
  one.close();
  await eventually('a slot to be free again', async () => {
    const next = await stream(other, alice.token);
    if (next.response.status === 200) {
      t.teardown(() => next.close());
      return true;
    }
    return false;
  });
  t.pass('closing a stream frees its slot');
});

t.test('over HTTP/2', async (t) => {
  const agora = await startAgora(t, { HTTP2: 'true' });
  const source = await testSource(t, agora);
  const session = http2Connect(agora.origin);
  t.teardown(() => session.destroy());
  // h2c speaks no HTTP/1.1: signing up goes over the same session.
  const post = (path: string, body: unknown) =>
    new Promise<any>((resolve, reject) => {
      const r = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (chunk: string) => void (text += chunk));
      r.on('end', () => resolve(JSON.parse(text)));
      r.on('error', reject);
      r.end(JSON.stringify(body));
    });
  const handle = `h2_${Date.now().toString(36)}`;
  const email = `${handle}@example.com`;
  const password = 'correct horse battery staple';
  const account = await post('/v1/accounts', { email, password, handle, displayName: 'Over h2' });
  const { token } = await post('/v1/sessions', { email, password });
  const alice = { account, token };
  const request = session.request({ ':method': 'GET', ':path': '/v1/stream', authorization: `Bearer ${alice.token}` });
  let text = '';
  let headers: Record<string, unknown> = {};
  request.on('response', (h) => void (headers = h));
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => void (text += chunk));
  await eventually('ready', async () => text.includes('event: ready'));
  t.equal(headers[':status'], 200);
  t.match(String(headers['content-type']), /^text\/event-stream/);
  await source.write(alice.account.id, 'over h2');
  await eventually('the event', async () => text.includes('"over h2"'));
  t.match(text, /id: n\d+-\d+\.m\d+-\d+\.t\d+-\d+\nevent: test\ndata: \{"body":"over h2"\}\n\n/);
  request.close();
});

t.test('shutdown ends open streams promptly', async (t) => {
  const agora = await startAgora(t);
  const alice = await agora.signUp();
  const s = await stream(agora, alice.token);
  await s.until('ready', () => s.events.length >= 1);
  const started = Date.now();
  await agora.app.close();
  await s.ended;
  t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms, not held up by the stream`);
  t.ok(s.isEnded(), 'the stream ended');
});
