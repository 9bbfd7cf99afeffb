import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { generate } from 'selfsigned';
import { Agent, fetch as undiciFetch } from 'undici';
import { unwrap } from 'agora-sdk';
import { startAgora, uniqueHandle } from './helpers/agora.ts';
import { assertConforms } from './helpers/contract.ts';

function toHeaders(raw: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const v of [value].flat()) headers.append(name, String(v));
  }
  return headers;
}

interface Received {
  status: number;
  httpVersion: string;
  headers: Headers;
  /** The body as it came over the wire (compressed if it was). */
  wire: Buffer;
}

/** One request with node:http(s), which decompresses nothing: we see what was sent. */
function get(url: string, headers: Record<string, string>, ca?: string): Promise<Received> {
  return new Promise((done, fail) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { headers, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode!, httpVersion: res.httpVersion, headers: toHeaders(res.headers), wire: Buffer.concat(chunks) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

async function certificate(t: Test) {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'agora-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.private, { mode: 0o600 });
  return { cert: pems.cert, certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}

t.test('HTTPS: the SDK over HTTP/2, and HTTP/1.1 for clients that only speak that (ALPN)', async (t) => {
  const tls = await certificate(t);
  const agora = await startAgora(t, { TLS_CERT: tls.certFile, TLS_KEY: tls.keyFile });
  t.match(agora.baseUrl, /^https:\/\/127\.0\.0\.1:\d+\/v1$/);

  // Node's global fetch offers only HTTP/1.1; undici's Agent offers h2 by ALPN and trusts our CA.
  const agent = new Agent({ allowH2: true, connect: { ca: tls.cert } });
  t.teardown(() => agent.close());
  const overHttp2 = async (request: Request) => {
    const body = request.body ? await request.arrayBuffer() : undefined;
    const response = await undiciFetch(request.url, { method: request.method, headers: [...request.headers], body, dispatcher: agent });
    return response as unknown as Response;
  };

  const anonymous = agora.client(undefined, overHttp2);
  const handle = uniqueHandle('h2');
  const email = `${handle}@example.com`;
  const password = 'correct horse battery staple';
  const account = await unwrap(anonymous.POST('/accounts', { body: { email, password, handle, displayName: 'Over HTTP/2' } }));
  const session = await unwrap(anonymous.POST('/sessions', { body: { email, password } }));
  const me = agora.client(session.token, overHttp2);
  const { data, response } = await me.GET('/sessions/me');
  t.equal(response.status, 200);
  t.equal(data!.id, account.id);

  const line = agora.logs.find((l) => l.requestId === response.headers.get('x-request-id') && l.msg === 'request completed');
  t.match(line, { operation: 'getCurrentSession', status: 200, httpVersion: '2.0', accountId: account.id }, 'the server saw HTTP/2');
  t.equal(agora.logs.filter((l) => l.msg === 'request completed' && l.httpVersion === '2.0').length, 3, 'every SDK request went over HTTP/2');

  const fallback = await get(`${agora.baseUrl}/accounts/${account.id}`, {}, tls.cert);
  t.equal(fallback.status, 200);
  t.equal(fallback.httpVersion, '1.1');
  assertConforms({ method: 'GET', url: `${agora.baseUrl}/accounts/${account.id}`, status: fallback.status, headers: fallback.headers, body: fallback.wire.toString() });
  t.equal(JSON.parse(fallback.wire.toString()).id, account.id);
});

t.test('HTTP2=true without TLS serves cleartext HTTP/2 (h2c)', async (t) => {
  const agora = await startAgora(t, { HTTP2: 'true' });
  const session = http2Connect(agora.origin);
  t.teardown(() => session.close());
  const { status, headers, body } = await new Promise<{ status: number; headers: Headers; body: string }>((done, fail) => {
    const stream = session.request({ ':path': '/v1/accounts?limit=5', 'x-request-id': 'h2c-request' });
    let text = '';
    let head: Record<string, string | string[] | number | undefined> = {};
    stream.on('response', (h) => (head = h));
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => done({ status: Number(head[':status']), headers: toHeaders(head), body: text }));
    stream.on('error', fail);
  });
  t.equal(status, 200);
  assertConforms({ method: 'GET', url: `${agora.baseUrl}/accounts?limit=5`, status, headers, body });
  t.match(agora.logs.find((l) => l.requestId === 'h2c-request'), { httpVersion: '2.0', operation: 'listAccounts', status: 200 });
});

t.test('responses are compressed as Accept-Encoding asks, and logged with the bytes sent', async (t) => {
  const agora = await startAgora(t);
  for (let i = 0; i < 8; i++) await agora.signUp();
  const url = `${agora.baseUrl}/accounts?limit=20`;

  const plain = await get(url, { 'accept-encoding': 'identity' });
  t.equal(plain.status, 200);
  t.equal(plain.headers.get('content-encoding'), null);
  t.equal(Number(plain.headers.get('content-length')), plain.wire.length);
  t.ok(plain.wire.length > 1024, `a body worth compressing (${plain.wire.length} bytes)`);
  assertConforms({ method: 'GET', url, status: plain.status, headers: plain.headers, body: plain.wire.toString() });

  for (const [encoding, decompress] of [['br', brotliDecompressSync], ['gzip', gunzipSync]] as const) {
    const res = await get(url, { 'accept-encoding': encoding, 'x-request-id': `compressed-${encoding}` });
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-encoding'), encoding);
    t.match(res.headers.get('vary'), /accept-encoding/i);
    const body = decompress(res.wire).toString();
    t.equal(body, plain.wire.toString(), `${encoding} decodes to the same body`);
    t.ok(res.wire.length < plain.wire.length / 2, `${encoding}: ${res.wire.length} bytes instead of ${plain.wire.length}`);
    assertConforms({ method: 'GET', url, status: res.status, headers: res.headers, body });
    t.match(agora.logs.find((l) => l.requestId === `compressed-${encoding}`), { bytesOut: res.wire.length });
  }

  // A large body goes through the compression stream; the log counts what left the server.
  const script = await get(`${agora.origin}/docs/js/scalar.js`, { 'accept-encoding': 'gzip', 'x-request-id': 'streamed-docs-script' });
  t.equal(script.status, 200);
  t.equal(script.headers.get('content-encoding'), 'gzip');
  t.equal(script.headers.get('content-length'), null, 'streamed, so no Content-Length');
  t.ok(gunzipSync(script.wire).length > script.wire.length * 2);
  t.match(agora.logs.find((l) => l.requestId === 'streamed-docs-script'), { bytesOut: script.wire.length, status: 200 });

  const small = await get(`${agora.baseUrl}/accounts?limit=1`, { 'accept-encoding': 'br, gzip' });
  t.equal(small.headers.get('content-encoding'), null, 'bodies under 1 KiB are sent as they are');
});

t.test('CORS: a preflight from an allowed origin is answered; others get no CORS headers', async (t) => {
  const agora = await startAgora(t, { CORS_ORIGINS: 'https://app.example.com' });
  const preflight = await agora.raw('OPTIONS', '/v1/accounts', {
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, idempotency-key' },
  });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
  t.match(preflight.headers.get('access-control-allow-methods'), /\bPOST\b/);
  t.match(preflight.headers.get('access-control-allow-headers'), /idempotency-key/);
  t.equal(preflight.headers.get('access-control-max-age'), '600');

  const simple = await agora.raw('GET', '/v1/accounts', { headers: { origin: 'https://app.example.com' } });
  t.equal(simple.headers.get('access-control-allow-origin'), 'https://app.example.com');
  t.match(simple.headers.get('access-control-expose-headers'), /x-request-id/);

  const stranger = await agora.raw('OPTIONS', '/v1/accounts', {
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  t.equal(stranger.headers.get('access-control-allow-origin'), null);
  t.equal(stranger.status, 204, "answered by the API's own OPTIONS, without CORS headers");
  t.ok(stranger.headers.get('allow'));
});
