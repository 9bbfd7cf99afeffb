// The live stream served apart: its operations (StreamOperations) over the internal contract
// internal/stream.openapi.yaml, whose generated operations type both sides. `open` answers a
// stream (NDJSON, one event a line, heartbeats between), which the stub yields as the stream
// in process does, so that GET /v1/stream writes it as Server-Sent Events unchanged: the same
// ids (Last-Event-ID resumes on the stream server), the per-account cap held there (a 429 whose
// Retry-After crosses), and a stream that ends when the stream server goes away (its clients
// reconnect, and are answered 503 with Retry-After until it is back). `agree` below fails the
// build when the interface and the contract disagree, in either direction.
import type { operations } from '../../generated/internal/stream.d.ts';
import type { Message } from '../services/messages/index.ts';
import type { Notification } from '../services/notifications/index.ts';
import { TooManyStreams, type LiveStream, type StreamEvent, type StreamOperations, type StreamService } from '../services/stream/index.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf, type Wire, type WireError } from './wire.ts';

agree<StreamOperations, operations>(true);

/** The stream domain's internal contract. */
export const streamContract = new URL('../../internal/stream.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;

/** Each source's data as its model again (dates as dates), by event type; other types as they come. */
const REVIVE: Record<string, (data: never) => unknown> = {
  notification: (data: Wire<Notification>): Notification => ({ ...data, createdAt: new Date(data.createdAt) }) as Notification,
  message: (data: Wire<Message>): Message => ({ ...data, createdAt: new Date(data.createdAt) }),
};

const revived = (line: Wire<StreamEvent>): StreamEvent => {
  const revive = REVIVE[line.event];
  return { id: line.id, event: line.event, data: revive ? revive(line.data as never) : line.data };
};

/** The stream domain's own error kind, beside the shared ones. */
function streamError(wire: WireError) {
  if (wire.kind !== 'too-many-streams') return undefined;
  return Object.assign(new TooManyStreams(0, wire.retryAfterSeconds ?? 1), { message: wire.message });
}

/** StreamService, by calling a stream domain server (STREAM_SERVICE_URL); the streams open through this process are its own. */
export function streamStub(client: RemoteClient<operations>): StreamService {
  const open = new Set<LiveStream>();
  return {
    async open(caller, lastEventId) {
      const lines = await client.stream('open', [caller, lastEventId ?? null], streamError);
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        open.delete(stream);
      };
      const stream: LiveStream = {
        async next() {
          try {
            const next = await lines.next();
            if (next.done) {
              close();
              return { done: true, value: undefined };
            }
            return { done: false, value: revived(next.value) };
          } catch (error) {
            close();
            throw error;
          }
        },
        async return() {
          close();
          await lines.return();
          return { done: true, value: undefined };
        },
      };
      open.add(stream);
      return stream;
    },
    get openCount() {
      return open.size;
    },
    closeAll() {
      for (const stream of [...open]) void stream.return();
    },
  };
}

/** The internal API over the streams of this process (SERVE_DOMAINS=stream). */
export function streamBinding(stream: StreamOperations): InternalBinding {
  const operations: { [K in keyof operations]: { keyed: boolean; stream?: boolean; run(args: Op<K>): Promise<unknown> } } = {
    open: { keyed: false, stream: true, run: ([caller, lastEventId]) => stream.open(caller, lastEventId ?? undefined) },
  };
  return { target: 'stream', contract: streamContract, operations };
}
