// A reader of GET /v1/stream for the tests, independent of the SDK's: it checks the response's
// headers against the spec (through the checked fetch) and every event against StreamEvent, and
// keeps what arrived (events, comments) for the test to wait on.
import { eventViolations } from './contract.ts';

export interface ReceivedEvent {
  id: string;
  event: string;
  data: any;
}

export interface OpenStream {
  response: Response;
  events: ReceivedEvent[];
  comments: string[];
  /** Events that broke the contract (a test asserts there are none). */
  violations: string[];
  /** The `retry:` the server sent, if any. */
  retry: number | undefined;
  /** Resolves when the server ends the stream (or the connection drops). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Waits until `condition` holds of what arrived, or fails after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens a stream with `fetch` (a checked one); a response that is not 200 is returned unread. */
export async function openStream(
  fetch: (input: string, init?: RequestInit) => Promise<Response>,
  url: string,
  headers: Record<string, string>,
): Promise<OpenStream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: ReceivedEvent[] = [];
  const comments: string[] = [];
  const violations: string[] = [];
  let ended = false;
  /** Closed by the test: nothing read after that is taken as received (a read may already have resolved). */
  let closed = false;
  /** Cancels the body's read: a stream closed ends whatever became of the abort's link to its fetch (see checkedFetch). */
  let cancel = () => {};
  const stream: OpenStream = {
    response,
    events,
    comments,
    violations,
    retry: undefined,
    ended: Promise.resolve(),
    isEnded: () => ended,
    async until(what, condition, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => [e.event, e.id]))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => {
      closed = true;
      abort.abort();
      cancel();
    },
  };
  if (response.status !== 200 || !response.body) {
    ended = true;
    // A refusal's body is read now (so that its connection is free), and kept for the test.
    const text = await response.text();
    stream.response = new Response(text, { status: response.status, headers: response.headers });
    return stream;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  cancel = () => void reader.cancel().catch(() => {});
  stream.ended = (async () => {
    let buffer = '';
    let fields: Record<string, string> = {};
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || closed) break;
        buffer += value;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            if (fields.data !== undefined) {
              const event = { id: fields.id ?? '', event: fields.event ?? 'message', data: JSON.parse(fields.data) };
              violations.push(...eventViolations(event));
              events.push(event);
            }
            fields = {};
          } else if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            const name = line.slice(0, colon);
            const text = line.slice(colon + 1).replace(/^ /, '');
            if (name === 'retry') stream.retry = Number(text);
            else fields[name] = fields[name] === undefined ? text : `${fields[name]}\n${text}`;
          }
        }
      }
    } catch {
      // The connection ended (the client aborted, or the server dropped it).
    } finally {
      ended = true;
    }
  })();
  // Kept from being an unhandled rejection; a test that cares awaits it.
  stream.ended.catch(() => {});
  return stream;
}
