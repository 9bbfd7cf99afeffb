// The live stream (GET /v1/stream) as an async iterator: Server-Sent Events read from fetch's
// body (a ReadableStream, in Node and browsers alike), parsed as the HTML standard says, each
// event's JSON given typed. A dropped connection is reopened with `Last-Event-ID` (the id of the
// last event received), after the server's `retry:` and with backoff while reconnecting fails,
// so the caller sees every event once, in order, across drops. It ends when `signal` aborts or
// the caller stops iterating (`break`).
import type { components } from './api.ts';
import { AgoraError, retryAfterMs, toError } from './errors.ts';

/** One event of the stream: `event` names its type, `id` is the resumable position after it. */
export type StreamEvent = components['schemas']['StreamEvent'];

/**
 * The event types this SDK knows. Events of other types (newer than this SDK) are skipped, as the
 * Server-Sent Events standard asks of clients; `satisfies` keeps the list complete.
 */
const KNOWN_EVENTS = { ready: true, notification: true, message: true } satisfies Record<StreamEvent['event'], true>;

/** One event as the wire carries it, before its data is read as JSON. */
export interface RawServerSentEvent {
  event: string;
  data: string;
  /** The last event id in force when it was dispatched ('' when none was sent). */
  id: string;
}

/**
 * An incremental `text/event-stream` parser (HTML Living Standard, "Server-sent events",
 * interpreting an event stream): lines end with CRLF, LF or CR; `:` starts a comment; an empty
 * line dispatches the event; `retry` takes digits only; an `id` containing NUL is ignored.
 */
export class EventStreamParser {
  /** The id of the last event (or `id:` line) seen; what `Last-Event-ID` resumes from. */
  lastEventId = '';
  /** The reconnection time the server last asked for (`retry:`), in milliseconds. */
  retry: number | undefined;
  #buffer = '';
  #started = false;
  #data = '';
  #hasData = false;
  #event = '';
  /** A chunk ended in CR: an LF that starts the next one belongs to the same line end. */
  #pendingCr = false;

  /** Feeds a chunk of text; returns the events it completed. */
  push(chunk: string): RawServerSentEvent[] {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.#pendingCr = false;
    this.#buffer += text;
    const events: RawServerSentEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const line = this.#buffer.slice(start, i);
      if (c === 0x0d) {
        if (i + 1 === this.#buffer.length) this.#pendingCr = true;
        else if (this.#buffer.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.#buffer = this.#buffer.slice(start);
    return events;
  }

  #line(line: string): RawServerSentEvent | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data += `${value}\n`;
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): RawServerSentEvent | undefined {
    const event = this.#event || 'message';
    const data = this.#data.endsWith('\n') ? this.#data.slice(0, -1) : this.#data;
    const hasData = this.#hasData;
    this.#event = '';
    this.#data = '';
    this.#hasData = false;
    return hasData ? { event, data, id: this.lastEventId } : undefined;
  }
}

export interface StreamOptions {
  /** Resume after this event id (the `id` of the last event you processed, e.g. stored before a restart). */
  lastEventId?: string | undefined;
  /** Ends the stream (the iteration then simply finishes). */
  signal?: AbortSignal | undefined;
  /** The longest wait between two attempts to reconnect while the server cannot be reached. Default 30 s. */
  maxReconnectDelayMs?: number | undefined;
}

/** What the stream needs of a client: a GET of /stream that hands back the response as it is. */
export type OpenStream = (lastEventId: string | undefined, signal: AbortSignal) => Promise<{ response: Response; error?: unknown }>;

/** The server's advice until it sends its own `retry:`. */
const DEFAULT_RETRY_MS = 1000;
const DEFAULT_MAX_RECONNECT_DELAY_MS = 30_000;

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The events of the stream, reconnecting after drops. A refusal that waiting will not cure
 * (`401`, `400`: a bad token or id) throws its typed error; a `429` or `5xx` is waited out
 * (`Retry-After`) and retried.
 */
export async function* streamEvents(open: OpenStream, options: StreamOptions = {}): AsyncGenerator<StreamEvent, void, undefined> {
  const controller = new AbortController();
  const outer = options.signal;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) return;
  outer?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  let lastEventId = options.lastEventId;
  let retryMs = DEFAULT_RETRY_MS;
  /** Consecutive attempts that did not get a stream: the backoff grows with them. */
  let failures = 0;
  try {
    while (!signal.aborted) {
      let delay: number;
      try {
        const { response, error } = await open(lastEventId, signal);
        if (response.ok && response.body) {
          failures = 0;
          const parser = new EventStreamParser();
          if (lastEventId !== undefined) parser.lastEventId = lastEventId;
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          // Whatever fetch does with the signal, an abort ends the read under way.
          const stop = () => void reader.cancel().catch(() => {});
          signal.addEventListener('abort', stop, { once: true });
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              for (const raw of parser.push(value)) {
                if (parser.retry !== undefined) retryMs = parser.retry;
                lastEventId = raw.id;
                if (!(raw.event in KNOWN_EVENTS)) continue;
                yield { event: raw.event, id: raw.id, data: JSON.parse(raw.data) } as StreamEvent;
              }
              if (parser.retry !== undefined) retryMs = parser.retry;
            }
          } catch {
            // The connection dropped mid-stream: reconnect below (unless aborted).
            if (signal.aborted) return;
          } finally {
            signal.removeEventListener('abort', stop);
            await reader.cancel().catch(() => {});
          }
          delay = retryMs;
        } else {
          const status = response.status;
          await response.body?.cancel().catch(() => {});
          if (status !== 429 && status < 500) throw toError(error, response);
          failures++;
          delay = Math.max(retryAfterMs(response) ?? 0, Math.random() * Math.min(maxDelay, retryMs * 2 ** failures));
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof AgoraError) throw error;
        // No response at all (the server is unreachable): back off, then try again.
        failures++;
        delay = Math.random() * Math.min(maxDelay, retryMs * 2 ** failures);
      }
      await wait(delay, signal);
    }
  } finally {
    outer?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}
