// The SDK's Server-Sent Events parser and its reconnecting iterator, against scripted responses:
// no server, no database.
import t from 'tap';
import { AuthenticationError, createAgoraClient, EventStreamParser } from 'agora-sdk';

t.test('the parser reads events as the HTML standard says', async (t) => {
  const parser = new EventStreamParser();
  const all = (...chunks: string[]) => chunks.flatMap((chunk) => parser.push(chunk));
  t.same(all('\uFEFFretry: 1500\n\n', ': a comment\n', 'id: n1\nevent: ready\ndata: {"resumed":false}\n\n'), [
    { event: 'ready', data: '{"resumed":false}', id: 'n1' },
  ], 'a BOM is dropped, comments ignored, one event dispatched at its empty line');
  t.equal(parser.retry, 1500, 'retry: is kept');
  t.same(all('data: a\r\ndata:b\r', '\nid: n2\r\rdata: c\n'), [
    { event: 'message', data: 'a\nb', id: 'n2' },
  ], 'CRLF, CR and LF all end lines (a CRLF split across chunks too); data lines join with LF; no event: is "message"');
  t.same(all('\n'), [{ event: 'message', data: 'c', id: 'n2' }], 'an event waits for its empty line; the id stays in force');
  t.same(all('id: bad\0id\nevent: x\n\n'), [], 'an event without data is not dispatched');
  t.equal(parser.lastEventId, 'n2', 'an id with NUL is ignored');
  t.same(all('retry: soon\ndata\n\n'), [{ event: 'message', data: '', id: 'n2' }], 'a field without a colon has an empty value');
  t.equal(parser.retry, 1500, 'a retry that is not digits is ignored');
  t.same(all('da', 'ta: sp', 'lit\n', '\n'), [{ event: 'message', data: 'split', id: 'n2' }], 'fields split across chunks');
});

function sse(text: string, close = true): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      if (close) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

t.test('stream() reconnects with Last-Event-ID after a drop and through a 503', async (t) => {
  const asked: (string | null)[] = [];
  const responses = [
    () => sse('retry: 5\n\nid: t1\nevent: ready\ndata: {"resumed":false}\n\nid: t2\nevent: test\ndata: {"n":2}\n\n'),
    () => new Response('{}', { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '0' } }),
    () => sse('id: t2\nevent: ready\ndata: {"resumed":true}\n\n', false),
  ];
  const fetch = async (request: Request) => {
    asked.push(request.headers.get('last-event-id'));
    const next = responses.shift();
    if (!next) throw new Error('the script ran out');
    return next();
  };
  const client = createAgoraClient({ baseUrl: 'http://agora.test/v1', fetch, retry: false });
  const abort = new AbortController();
  const seen: unknown[] = [];
  for await (const event of client.stream({ signal: abort.signal, maxReconnectDelayMs: 10 })) {
    seen.push(event);
    if (seen.length === 2) abort.abort();
  }
  t.same(seen, [
    { event: 'ready', id: 't1', data: { resumed: false } },
    { event: 'ready', id: 't2', data: { resumed: true } },
  ], 'events of types this SDK does not know are skipped; their ids still count');
  t.same(asked, [null, 't2', 't2'], 'every reconnection resumes after the last id received, through a 503');
});

t.test('stream() throws what waiting will not cure, and ends on abort', async (t) => {
  const refused = createAgoraClient({
    baseUrl: 'http://agora.test/v1',
    retry: false,
    fetch: async () =>
      new Response(JSON.stringify({ type: 'urn:agora:problem:unauthenticated', title: 'x', status: 401, requestId: 'r' }), {
        status: 401,
        headers: { 'content-type': 'application/problem+json' },
      }),
  });
  await t.rejects(refused.stream().next(), AuthenticationError);

  const aborted = new AbortController();
  aborted.abort();
  const never = createAgoraClient({ baseUrl: 'http://agora.test/v1', fetch: async () => sse('', false) });
  t.same(await never.stream({ signal: aborted.signal }).next(), { done: true, value: undefined });
});
