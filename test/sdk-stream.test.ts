// The SDK's stream() against a real server: it yields the live events typed, and when the
// connection drops it reconnects with Last-Event-ID by itself, so the caller gets every event
// once, in order.
import t from 'tap';
import { checkedFetch, startAgora } from './helpers/agora.ts';
import { eventually, testSource } from './helpers/stream-source.ts';
import { createAgoraClient, type StreamEvent } from 'agora-sdk';

t.setTimeout(300_000);

t.test('stream() yields live events and survives a dropped connection', async (t) => {
  const agora = await startAgora(t);
  const source = await testSource(t, agora);
  const alice = await agora.signUp();

  // A fetch whose open response the test can cut, as a network failure would.
  const checking = checkedFetch();
  const asked: (string | null)[] = [];
  let cut: (() => void) | undefined;
  const fetch = async (request: Request) => {
    asked.push(request.headers.get('last-event-id'));
    const response = await checking(request);
    if (!response.body) return response;
    const pass = new TransformStream<Uint8Array, Uint8Array>();
    const writer = pass.writable.getWriter();
    const reader = response.body.getReader();
    cut = () => {
      void writer.abort(new TypeError('network connection lost')).catch(() => {});
      void reader.cancel().catch(() => {});
    };
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) break;
        await writer.write(value).catch(() => {});
      }
    })();
    return new Response(pass.readable, { status: response.status, headers: response.headers });
  };
  const client = createAgoraClient({ baseUrl: agora.baseUrl, token: alice.token, fetch });

  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const seen: { event: string; id: string; data: unknown }[] = [];
  const reading = (async () => {
    for await (const event of client.stream({ signal: abort.signal }) as AsyncIterable<StreamEvent>) seen.push(event);
  })();
  // The SDK yields the types it knows (ready); the test source's events are counted by the server.
  await eventually('ready', async () => seen.length >= 1);
  t.same(seen[0]!.data, { resumed: false });
  await source.write(alice.account.id, 'one');
  await eventually('the position to move past "one"', async () => asked.length === 1 && (await agora.scrape()).text.includes('agora_stream_events_total{type="test"} 1'));

  cut!();
  await source.write(alice.account.id, 'two');
  await eventually('a reconnection', async () => asked.length >= 2 && seen.length >= 2);
  t.equal(asked[0], null, 'the first request starts now');
  t.match(asked[1], /^t\d+$/, 'the reconnection resumes after the last id received');
  t.same(seen[1]!.data, { resumed: true });
  t.equal(seen[1]!.id, asked[1], 'the resumed stream starts where the client left');
  await eventually('"two" to be delivered once', async () => (await agora.scrape()).text.includes('agora_stream_events_total{type="test"} 2'));

  abort.abort();
  await reading;
  t.pass('aborting ends the iteration');
});
