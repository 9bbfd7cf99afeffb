// The live stream's side of the benchmark: many `GET /v1/stream` responses held open by a
// lightweight Server-Sent Events reader (node:http, no buffering beyond the line being read),
// Agora's RSS idle and while holding them, and how fast a burst of writes reaches them.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StreamEvent {
  event: string;
  id: string | null;
  data: string;
  /** performance.now() when the blank line ending the event was read. */
  at: number;
}

export interface OpenStream {
  /** Whose stream it is. */
  accountId: string;
  close(): void;
  /** Every event after `ready`, as it arrived. */
  events: StreamEvent[];
}

/**
 * Opens one stream and resolves once its `ready` event has arrived; rejects on any status but
 * 200 (with the body), or when `ready` does not come within `timeoutMs`.
 */
export function openStream(origin: string, token: string, accountId: string, timeoutMs = 15_000): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const events: StreamEvent[] = [];
    let ready = false;
    const request = http.get(
      `${origin}/v1/stream`,
      { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (response) => {
        response.setEncoding('utf8');
        if (response.statusCode !== 200) {
          let body = '';
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => reject(new Error(`GET /v1/stream answered ${response.statusCode}: ${body.slice(0, 300)}`)));
          return;
        }
        // The SSE format: lines `field: value`, an event ends at a blank line; `:` starts a comment.
        let partial = '';
        let current: { event: string; id: string | null; data: string[] } = { event: 'message', id: null, data: [] };
        response.on('data', (chunk: string) => {
          const lines = (partial + chunk).split(/\r\n|\r|\n/);
          partial = lines.pop()!;
          for (const line of lines) {
            if (line === '') {
              if (current.data.length > 0 || current.id !== null) {
                const event = { event: current.event, id: current.id, data: current.data.join('\n'), at: performance.now() };
                if (!ready && event.event === 'ready') {
                  ready = true;
                  clearTimeout(timer);
                  resolve(handle);
                } else {
                  events.push(event);
                }
              }
              current = { event: 'message', id: null, data: [] };
              continue;
            }
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') current.event = value;
            else if (field === 'id') current.id = value;
            else if (field === 'data') current.data.push(value);
          }
        });
        response.on('error', () => {}); // closed by us at the end
      },
    );
    request.on('error', (error) => {
      if (!ready) reject(error);
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no ready event on /v1/stream within ${timeoutMs} ms`));
    }, timeoutMs);
    const handle: OpenStream = { accountId, events, close: () => request.destroy() };
  });
}

/** Opens a stream per (token, account), `parallel` at a time. */
export async function openStreams(origin: string, who: readonly { token: string; accountId: string }[], parallel = 50): Promise<OpenStream[]> {
  const streams: OpenStream[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, who.length) }, async () => {
        while (next < who.length) {
          const { token, accountId } = who[next++]!;
          streams.push(await openStream(origin, token, accountId));
        }
      }),
    );
  } catch (error) {
    for (const stream of streams) stream.close();
    throw error;
  }
  return streams;
}

/** A keyed JSON POST (a fresh Idempotency-Key) on `agent`'s connections; the status and the body. */
export function postJson(agent: http.Agent, url: string, token: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: `Bearer ${token}`,
          'idempotency-key': randomUUID(),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** Whether this build of the server has the live stream: GET /v1/stream is not a 404. */
export async function hasStream(origin: string, token: string): Promise<boolean> {
  const controller = new AbortController();
  const response = await fetch(`${origin}/v1/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  controller.abort(); // a stream never ends by itself: only its status is wanted
  return response.status !== 404;
}

export interface Write {
  /** A token in the message's text, so that an event carrying the text can be matched. */
  marker: string;
  /** performance.now() when the request was sent. */
  sentAt: number;
  messageId?: string;
  /** The accounts whose streams should receive it (the conversation's others). */
  recipients: string[];
}

export interface FanoutResult {
  writes: number;
  /** (write, recipient stream) pairs expected, and those that arrived before the deadline. */
  expected: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Every event the streams received between the first write and the last delivery, per second. */
  eventsPerSecond: number;
  eventsReceived: number;
  seconds: number;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Sends `writes` with at most `parallel` in flight (`send` posts one and returns its message
 * id), waits up to `graceMs` after the last for the deliveries, and matches each event to its
 * write by the marker in its data or by the message id it names.
 */
export async function fanout(
  streams: OpenStream[],
  writes: Omit<Write, 'sentAt'>[],
  send: (write: Omit<Write, 'sentAt'>) => Promise<string>,
  parallel: number,
  graceMs: number,
): Promise<FanoutResult> {
  for (const stream of streams) stream.events.length = 0;
  const byAccount = new Map(streams.map((s) => [s.accountId, s]));
  const expected = writes.reduce((n, w) => n + w.recipients.filter((r) => byAccount.has(r)).length, 0);
  const sent: Write[] = [];
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, writes.length) }, async () => {
      while (next < writes.length) {
        const write: Write = { ...writes[next++]!, sentAt: performance.now() };
        sent.push(write);
        write.messageId = await send(write);
      }
    }),
  );
  const matchDelivered = () => {
    const byMarker = new Map(sent.map((w) => [w.marker, w]));
    const byId = new Map(sent.filter((w) => w.messageId).map((w) => [w.messageId!.toLowerCase(), w]));
    const latencies: number[] = [];
    let last = start;
    for (const write of sent) {
      for (const recipient of write.recipients) {
        const stream = byAccount.get(recipient);
        if (!stream) continue;
        const event = stream.events.find((e) => {
          const marker = /bench-fanout-\d+\./.exec(e.data)?.[0];
          if (marker) return byMarker.get(marker) === write;
          return (e.data.match(UUID) ?? []).some((id) => byId.get(id.toLowerCase()) === write);
        });
        if (event) {
          latencies.push(event.at - write.sentAt);
          last = Math.max(last, event.at);
        }
      }
    }
    return { latencies, last };
  };
  const deadline = performance.now() + graceMs;
  let matched = matchDelivered();
  while (matched.latencies.length < expected && performance.now() < deadline) {
    await sleep(100);
    matched = matchDelivered();
  }
  const sorted = matched.latencies.sort((a, b) => a - b);
  const end = Math.max(matched.last, start + 1);
  const eventsReceived = streams.reduce((n, s) => n + s.events.filter((e) => e.at <= end).length, 0);
  const seconds = (end - start) / 1000;
  return {
    writes: sent.length,
    expected,
    delivered: sorted.length,
    p50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
    p99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
    maxMs: Math.round((sorted.at(-1) ?? 0) * 10) / 10,
    eventsPerSecond: Math.round(eventsReceived / seconds),
    eventsReceived,
    seconds: Math.round(seconds * 100) / 100,
  };
}
