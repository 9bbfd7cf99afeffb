// The live stream's public API: the caller's new notifications and messages, as they happen, on
// whichever instance they happened. Transport-free: a stream is an async iterator of events
// with resumable ids; the HTTP layer writes it as Server-Sent Events.
//
// The stream composes sources, one per kind of row (registered by their domains through
// `register`). It reads them when told that there may be something new: a wake-up for the
// account (sent by PostgreSQL at the commit of the write, to every instance), a reconnection of
// the listener that carries wake-ups (one may have been missed), a periodic recheck (the same
// safety net), or a retry shortly after rows were held back by the safe-tail rule.
import type { Caller } from '../accounts/index.ts';
import { InvalidInput, ServiceError } from '../errors.ts';
import { LiveStream as OpenLiveStream, type StreamEvent, type StreamSource } from './live-stream.ts';
import { parsePosition, type Position } from './position.ts';
import type { StreamSlotPool, StreamTransport, StreamWakes } from '../stream-transport.ts';

export type { StreamSlotPool, StreamTransport, StreamWakes } from '../stream-transport.ts';

export type { StreamEvent, StreamSource, StreamSourceEvent } from './live-stream.ts';

/** One open stream as its consumer sees it: its events, pulled one at a time; `return()` ends it. */
export type LiveStream = AsyncIterator<StreamEvent> & { return(): Promise<IteratorResult<StreamEvent>> };

/**
 * What the stream domain does for a caller, wherever the streams are read (this process, or a
 * stream domain server: src/remote/stream.ts): the operations of its internal contract.
 */
export interface StreamOperations {
  /**
   * Opens a stream of the caller's events: after `lastEventId` (the id of the last event the
   * client received) when given, from now otherwise. The first event is `ready`, whose id is the
   * starting position.
   */
  open(caller: Caller, lastEventId: string | undefined): Promise<LiveStream>;
}

/** The stream domain's service: its operations, and the streams open through this process. */
export interface StreamService extends StreamOperations {
  /** Streams open through this process. */
  readonly openCount: number;
  /** Ends every stream open through this process (at shutdown). */
  closeAll(): void;
}
export { MAX_POSITION_LENGTH } from './position.ts';
export type { SourcePosition } from './position.ts';

/** The caller already has as many streams open as allowed. */
export class TooManyStreams extends ServiceError {
  readonly kind = 'too-many-streams';
  readonly retryAfterSeconds: number;
  constructor(cap: number, retryAfterSeconds: number) {
    super(`at most ${cap} streams may be open at once per account; close one first`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface StreamOptions {
  /** The most streams one account may hold open at once (across instances). */
  maxPerAccount: number;
  /** Events read per source at a time. */
  batchSize?: number;
  /** How often every open stream looks at its sources even without a wake-up. */
  recheckMs?: number;
  /** How soon rows held back by the safe-tail rule are looked for again. */
  pendingRetryMs?: number;
  /** What a refused stream is told to wait before trying again. */
  retryAfterSeconds?: number;
}

/** The streams read in this process, from the sources registered with it. */
export class LiveStreams implements StreamService {
  readonly #options: Required<StreamOptions>;
  readonly #slots: StreamSlotPool;
  readonly #sources: StreamSource[] = [];
  readonly #open = new Map<string, Set<OpenLiveStream>>();
  #count = 0;
  #recheck: NodeJS.Timeout | undefined;

  constructor(wakes: StreamWakes, slots: StreamSlotPool, options: StreamOptions) {
    this.#options = { batchSize: 100, recheckMs: 30_000, pendingRetryMs: 100, retryAfterSeconds: 10, ...options };
    this.#slots = slots;
    wakes.on('w', (accountIds) => {
      for (const accountId of accountIds) for (const stream of this.#open.get(accountId) ?? []) stream.poke();
    });
    wakes.onReset(() => this.#pokeAll());
  }

  /** Adds a kind of event to every stream opened from now on. */
  register(source: StreamSource): void {
    if (!/^[a-z]$/.test(source.key)) throw new Error(`stream source "${source.type}": its key must be one lower-case letter`);
    const clash = this.#sources.find((s) => s.key === source.key || s.type === source.type);
    if (clash) throw new Error(`stream source "${source.type}" clashes with "${clash.type}" (key or type)`);
    if (source.type === 'ready') throw new Error('"ready" is the stream\'s own first event');
    this.#sources.push(source);
  }

  /** Streams open on this instance. */
  get openCount(): number {
    return this.#count;
  }

  async open(caller: Caller, lastEventId: string | undefined): Promise<OpenLiveStream> {
    const sources = [...this.#sources];
    let position: Position = new Map();
    if (lastEventId !== undefined) {
      const parsed = parsePosition(lastEventId, new Set(sources.map((s) => s.key)));
      if (typeof parsed === 'string') throw new InvalidInput([{ field: 'lastEventId', detail: `Last-Event-ID ${parsed}` }]);
      position = parsed;
    }
    const slot = await this.#slots.acquire(caller.accountId);
    if (!slot) throw new TooManyStreams(this.#options.maxPerAccount, this.#options.retryAfterSeconds);
    try {
      // Every source not resumed starts at its tail: what is committed from now on.
      for (const source of sources) {
        if (!position.has(source.key)) position.set(source.key, await source.tail(caller.accountId));
      }
    } catch (error) {
      slot.release();
      throw error;
    }
    const stream = new OpenLiveStream({
      accountId: caller.accountId,
      sources,
      position,
      resumed: lastEventId !== undefined,
      batchSize: this.#options.batchSize,
      pendingRetryMs: this.#options.pendingRetryMs,
      onClose: (closed) => {
        slot.release();
        const streams = this.#open.get(closed.accountId);
        streams?.delete(closed);
        if (streams?.size === 0) this.#open.delete(closed.accountId);
        this.#count -= 1;
        if (this.#count === 0) this.#stopRecheck();
      },
    });
    const streams = this.#open.get(caller.accountId) ?? new Set();
    streams.add(stream);
    this.#open.set(caller.accountId, streams);
    this.#count += 1;
    this.#startRecheck();
    return stream;
  }

  /** Ends every open stream (at shutdown: their responses end, and clients reconnect elsewhere). */
  closeAll(): void {
    for (const streams of [...this.#open.values()]) for (const stream of [...streams]) stream.close();
  }

  #pokeAll(): void {
    for (const streams of this.#open.values()) for (const stream of streams) stream.poke();
  }

  #startRecheck(): void {
    if (this.#recheck) return;
    this.#recheck = setInterval(() => this.#pokeAll(), this.#options.recheckMs);
    this.#recheck.unref();
  }

  #stopRecheck(): void {
    clearInterval(this.#recheck);
    this.#recheck = undefined;
  }
}

/**
 * The stream domain: it owns no data, only the streams open on this instance. Without a
 * transport (a server without a listener connection) wake-ups never come, streams rely on their
 * periodic recheck, and the cap holds per instance.
 */
export function createStreamDomain(transport: StreamTransport | undefined, options: StreamOptions): { stream: LiveStreams } {
  const { wakes, slots } = transport ?? { wakes: noWakes, slots: localSlots(options.maxPerAccount) };
  return { stream: new LiveStreams(wakes, slots, options) };
}

/** Wake-ups that never come: streams then rely on their periodic recheck (for a server without a listener). */
export const noWakes: StreamWakes = { on() {}, onReset() {} };

/** The cap held on this instance only (for a server without a listener connection to hold it across instances). */
export function localSlots(cap: number): StreamSlotPool {
  const open = new Map<string, number>();
  return {
    async acquire(accountId) {
      const count = open.get(accountId) ?? 0;
      if (count >= cap) return undefined;
      open.set(accountId, count + 1);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          const left = (open.get(accountId) ?? 1) - 1;
          if (left > 0) open.set(accountId, left);
          else open.delete(accountId);
        },
      };
    },
  };
}
