// Requests at the edges of HTTP, sent over raw TCP where no HTTP client would send them: bodies
// too large for the server while the client is still sending, methods and headers Node's parser
// refuses, paths too long to echo. Each is answered with a problem that keeps to the Problem
// schema and carries the headers every response carries.
import { connect as http2Connect } from 'node:http2';
import t, { type Test } from 'tap';
import { startAgora } from './helpers/agora.ts';
import { problemViolations } from './helpers/contract.ts';
import { exchange, type RawExchange } from './helpers/raw-http.ts';

const server = await startAgora(t);
const JSON_TYPE = { 'content-type': 'application/json' };

/** A problem document as every error carries it, with the headers every response carries. */
function assertRawProblem(t: Test, res: RawExchange, status: number, type: string): void {
  t.equal(res.status, status, 'status');
  t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    t.fail(`the body is not JSON: ${res.body.slice(0, 200)}`);
    return;
  }
  t.same(problemViolations(body), [], 'the body is a Problem');
  t.equal(body.type, type);
  t.equal(body.status, status);
  t.match(res.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'a request id');
  t.equal(body.requestId, res.headers.get('x-request-id'), 'the problem names it');
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');
  t.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'");
  t.equal(res.headers.get('cache-control'), 'no-store', 'not kept by any cache');
  t.match(res.headers.get('ratelimit'), /^"default";r=\d+;t=\d+$/, 'RateLimit');
  t.match(res.headers.get('ratelimit-policy'), /^"default";q=\d+;w=60$/, 'RateLimit-Policy');
}

t.test('a 413 reaches a client that is still sending its body, every time', async (t) => {
  const agora = await startAgora(t, { BODY_LIMIT_BYTES: '2048' });
  // Node closed the socket as soon as the 413 was written, with the rest of the body unread:
  // the kernel then resets the connection, and the client loses the response it had not read
  // yet (EPIPE). A client that reads only after sending loses it every time; one that reads
  // while sending, when the reset wins the race.
  const size = 4 * 1024 * 1024;
  for (const readAfterSending of [false, true]) {
    for (const chunked of [false, true]) {
      await t.test(`${chunked ? 'chunked' : 'with Content-Length'}, ${readAfterSending ? 'read after sending' : 'read while sending'}`, async (t) => {
        const head = ['POST /v1/accounts HTTP/1.1', 'host: 127.0.0.1', 'content-type: application/json', chunked ? 'transfer-encoding: chunked' : `content-length: ${size}`].join('\r\n');
        const outcomes: string[] = [];
        for (let i = 0; i < 10; i++) {
          const res = await exchange(agora.origin, { head, bodyBytes: size, chunked, readAfterSending });
          outcomes.push(res.status === 413 ? '413' : `${res.status} ${res.error}`);
          if (res.status === 413 && i === 0) {
            assertRawProblem(t, res, 413, 'urn:agora:problem:payload-too-large');
            t.equal(res.headers.get('connection'), 'close', 'the connection is closed after it');
          }
        }
        t.same(outcomes, Array(10).fill('413'), 'every request got its 413');
      });
    }
  }
  const res = await agora.raw('GET', '/v1/accounts?limit=1');
  t.equal(res.status, 200, 'the server serves on');
});

t.test('requests Node cannot parse get a problem document with the usual headers', async (t) => {
  const agora = server;
  for (const method of ['FOO', 'CONNECTX']) {
    await t.test(`the unknown method ${method} is a 400`, async (t) => {
      const res = await exchange(agora.origin, { head: `${method} /v1/accounts HTTP/1.1\r\nhost: 127.0.0.1` });
      assertRawProblem(t, res, 400, 'urn:agora:problem:malformed-request');
      t.match(JSON.parse(res.body).detail, /method/);
      const logged = agora.logs.find((l) => l.requestId === res.headers.get('x-request-id'));
      t.match(logged, { code: 'HPE_INVALID_METHOD', status: 400, msg: 'request refused before routing' }, 'logged under the request id');
    });
  }

  await t.test('headers over 16 KiB are a 431', async (t) => {
    const res = await exchange(agora.origin, { head: `GET /v1/accounts HTTP/1.1\r\nhost: 127.0.0.1\r\nx-filler: ${'f'.repeat(20_000)}` });
    assertRawProblem(t, res, 431, 'urn:agora:problem:headers-too-large');
  });

  const res = await agora.raw('GET', '/v1/accounts?limit=1');
  t.equal(res.status, 200, 'the server serves on');
});

t.test('over HTTP/2, where no parser refuses it, an unknown method gets the same problem', async (t) => {
  const h2c = await startAgora(t, { HTTP2: 'true' });
  const session = http2Connect(h2c.origin);
  t.teardown(() => session.close());
  for (const method of ['FOO', 'CONNECTX']) {
    const res = await new Promise<RawExchange>((done, fail) => {
      const stream = session.request({ ':method': method, ':path': '/v1/accounts' });
      let body = '';
      const headers = new Headers();
      let status = 0;
      stream.on('response', (head) => {
        status = Number(head[':status']);
        for (const [name, value] of Object.entries(head)) if (!name.startsWith(':') && value !== undefined) headers.append(name, String(value));
      });
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (body += chunk));
      stream.on('end', () => done({ status, headers, body, error: undefined }));
      stream.on('error', fail);
      stream.end();
    });
    assertRawProblem(t, res, 400, 'urn:agora:problem:malformed-request');
    t.match(JSON.parse(res.body).detail, /method/, method);
  }
  t.notOk(h2c.logs.some((l) => /fastify bug/.test(String(l.msg))), 'no warning about a bug in Fastify');
});

t.test('problems about long paths stay within the Problem schema and carry the usual headers', async (t) => {
  const segment = 'a'.repeat(3000);
  for (const [method, path, status, type] of [
    ['GET', `/v1/accounts/${segment}`, 400, 'urn:agora:problem:malformed-request'],
    ['OPTIONS', `/v1/accounts/${segment}`, 400, 'urn:agora:problem:malformed-request'],
    ['PATCH', `/v1/channels/${segment}`, 400, 'urn:agora:problem:malformed-request'],
    ['GET', `/v1/${segment}`, 404, 'urn:agora:problem:not-found'],
    ['PUT', `/v1/accounts/${'b'.repeat(150)}/friends/${'c'.repeat(1990)}`, 400, 'urn:agora:problem:malformed-request'],
    ['PUT', `/v1/sessions/me?${segment}`, 405, 'urn:agora:problem:method-not-allowed'],
  ] as const) {
    await t.test(`${method} ${path.slice(0, 30)}… (${path.length} characters)`, async (t) => {
      const res = await server.raw(method, path, method === 'GET' || method === 'OPTIONS' ? {} : { headers: JSON_TYPE, body: '{}' });
      t.equal(res.status, status);
      t.equal(res.json?.type, type);
      t.same(problemViolations(res.json), [], 'the body is a Problem');
      t.equal(res.json?.requestId, res.headers.get('x-request-id'));
      const bare = path.split('?')[0]!;
      if (bare.length <= 2048) t.equal(res.json?.instance, bare, 'instance is the path when it fits');
      else t.equal(res.json?.instance, undefined, 'no instance when the path does not fit');
      t.ok((res.json?.detail ?? '').length <= 250, 'the detail quotes a bounded part of the request');
      t.equal(res.headers.get('x-content-type-options'), 'nosniff');
      t.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'");
      t.equal(res.headers.get('cache-control'), 'no-store', 'not kept by any cache');
      t.match(res.headers.get('ratelimit'), /^"default";r=\d+;t=\d+$/);
      t.match(res.headers.get('ratelimit-policy'), /^"default";q=\d+;w=60$/);
    });
  }
});
