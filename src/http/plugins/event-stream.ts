// Writes an operation's events as Server-Sent Events (`text/event-stream`), over HTTP/1.1 and
// HTTP/2 alike. A handler cannot write a response that lasts (handlers know no transport), so an
// operation that answers with a stream returns its events (`EventSource`, pulled one at a time)
// and the pipeline's answer carries them to `reply.sendEvents` (pipeline.ts, `send`).
//
// The response is written directly, past Fastify's send: compression would buffer it, and no
// serializer applies to a body that never ends. Each event is written as it is pulled; a comment
// line (`: heartbeat`) keeps an idle connection open through proxies. The stream ends when the
// client leaves, when the events end, when the server closes (so that `close()` is not held up
// by streams that would never end by themselves), and when the client does not read: past
// `maxBufferedBytes` waiting to be sent, the connection is dropped rather than buffered without
// bound (the client resumes with Last-Event-ID).
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { ServiceUnavailable, type EventSource, type SentEvent } from '../../handlers/index.ts';

export interface EventStreamOptions {
  /** How often a comment line is sent on a stream with nothing else to send. */
  heartbeatMs: number;
  /** The most bytes a stream may have waiting to be sent before its client is dropped. */
  maxBufferedBytes: number;
  /** What clients are told (`retry:`) to wait before reconnecting. */
  retryMs: number;
  /** Each event written, by type. */
  onEvent?: (type: string) => void;
  /** A client dropped for not reading. */
  onSlowClient?: () => void;
}

declare module 'fastify' {
  interface FastifyReply {
    /** Answers 200 with `events` as `text/event-stream`, until they end, the client leaves or the server closes. */
    sendEvents(events: EventSource, headers?: Record<string, string>): FastifyReply;
  }
}

type Ending = 'done' | 'client' | 'shutdown' | 'slow' | 'error';

/** One event's lines. JSON has no raw line breaks, so `data` is one line. */
export function eventFrame(event: SentEvent): string {
  return `id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Bytes written and not yet sent to the client: the response's own and its socket's (HTTP/1.1), or its HTTP/2 stream's. */
function buffered(raw: FastifyReply['raw']): number {
  const stream = (raw as unknown as { stream?: { writableLength: number } }).stream;
  return stream ? stream.writableLength : raw.writableLength;
}

export const eventStream = fp(async (app: FastifyInstance, options: EventStreamOptions) => {
  const open = new Set<(why: Ending) => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end('shutdown');
  });

  app.decorateReply('sendEvents', function sendEvents(this: FastifyReply, events: EventSource, headers: Record<string, string> = {}) {
    const reply = this;
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string | number | string[]>),
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      // What one caller may see is never kept for another, nor by anybody.
      'cache-control': 'private, no-store',
      // Proxies that buffer responses (nginx) would hold the events back.
      'x-accel-buffering': 'no',
      // A stream's HTTP/1.1 connection closes with it: kept alive, one ended at shutdown would
      // hold the server's close up until the keep-alive timeout. (HTTP/2 has no such header.)
      ...(reply.request.raw.httpVersionMajor === 1 ? { connection: 'close' } : {}),
    });
    if (reply.request.method === 'HEAD') {
      void events.return().catch(() => {});
      raw.end();
      return reply;
    }
    raw.write(`retry: ${options.retryMs}\n\n`);
    // Sends the headers at once, before any event, so that the client knows the stream is open.
    (raw as unknown as { flushHeaders?: () => void }).flushHeaders?.();

    let ended = false;
    const end = (why: Ending, error?: unknown) => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      open.delete(end);
      void events.return().catch(() => {});
      if (why === 'slow') {
        reply.log.warn({ bufferedBytes: buffered(raw) }, 'event stream client does not read; disconnected');
        options.onSlowClient?.();
      }
      // A domain served by another process that is down (its outage is logged where it begins):
      // the stream ends, and the client's reconnection is answered 503 with Retry-After until it is back.
      if (why === 'error' && error instanceof ServiceUnavailable) reply.log.info({ target: error.target }, 'event stream ended: a domain it reads is unavailable');
      else if (why === 'error') reply.log.error({ err: error }, 'event stream failed; ended');
      if (why === 'slow' || why === 'error') raw.destroy();
      else if (!raw.writableEnded && !raw.destroyed) raw.end();
    };
    open.add(end);
    raw.on('close', () => end('client'));

    /** Writes, unless the client is too far behind: then it is dropped. */
    const write = (text: string): boolean => {
      if (ended) return false;
      if (buffered(raw) > options.maxBufferedBytes) {
        end('slow');
        return false;
      }
      raw.write(text);
      return true;
    };
    const heartbeat = setInterval(() => write(': heartbeat\n\n'), options.heartbeatMs);
    heartbeat.unref();

    void (async () => {
      try {
        for (;;) {
          const next = await events.next();
          if (next.done || ended) break;
          if (!write(eventFrame(next.value))) return;
          options.onEvent?.(next.value.event);
        }
        end('done');
      } catch (error) {
        end('error', error);
      }
    })();
    return reply;
  });
});
