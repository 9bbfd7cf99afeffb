// One open stream: the caller's account, a position per source, and an iterator that reads the
// sources after that position when there may be something new (a wake-up for the account, a
// reconnection of the listener, the periodic recheck, or rows held back by the safe-tail rule).
// It reads only when its consumer asks for the next event, at most a batch per source at a time:
// a consumer that stops reading stops the reading, and nothing piles up here.
import type { Position, SourcePosition } from './position.ts';
import { START, formatPosition } from './position.ts';

export interface StreamSourceEvent {
  /** The row's position in its source: its writing transaction's id, then its seq (strictly increasing in that order). */
  position: SourcePosition;
  /** The event's payload: the source's model of it, which the handler shows as its REST resource does; undefined to pass it over. */
  data: unknown;
}

/**
 * A kind of row that the stream delivers: notifications, messages. `since` returns the account's
 * events after `after`, in (txid, seq) order, at most `limit`, and only up to the safe tail (see
 * src/persistence/stream-rows.ts); `pending` says committed rows beyond were held back. `tail`
 * is the position a stream starting now begins after.
 */
export interface StreamSource {
  /** The event name (`event:` line), e.g. `notification`. */
  type: string;
  /** One lower-case letter naming the source in positions: `n` in `n7481-42.m7480-17`. */
  key: string;
  since(accountId: string, after: SourcePosition, limit: number): Promise<{ events: StreamSourceEvent[]; pending?: boolean }>;
  tail(accountId: string): Promise<SourcePosition>;
}

/** One event as the transport writes it. */
export interface StreamEvent {
  /** The position after this event: resuming with it delivers what follows. */
  id: string;
  event: string;
  data: unknown;
}

export interface LiveStreamOptions {
  accountId: string;
  sources: readonly StreamSource[];
  position: Position;
  resumed: boolean;
  batchSize: number;
  /** How soon rows held back by the safe-tail rule are looked for again. */
  pendingRetryMs: number;
  onClose: (stream: LiveStream) => void;
}

export class LiveStream implements AsyncIterableIterator<StreamEvent> {
  readonly accountId: string;
  readonly #options: LiveStreamOptions;
  readonly #keys: string[];
  readonly #position: Position;
  readonly #queue: StreamEvent[] = [];
  /** Set when the sources may have something new; the next read clears it. */
  #dirty = true;
  #closed = false;
  #wake: (() => void) | undefined;
  #pendingTimer: NodeJS.Timeout | undefined;

  constructor(options: LiveStreamOptions) {
    this.accountId = options.accountId;
    this.#options = options;
    this.#keys = options.sources.map((s) => s.key);
    this.#position = options.position;
    // The first event says where the stream starts, so that a client that drops before any other
    // event still resumes from there.
    this.#queue.push({ id: this.position, event: 'ready', data: { resumed: options.resumed } });
  }

  /** Where the stream is: the id of the last event it produced. */
  get position(): string {
    return formatPosition(this.#keys, this.#position);
  }

  /** Something may be new for this account: the next read looks. */
  poke(): void {
    this.#dirty = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async next(): Promise<IteratorResult<StreamEvent>> {
    for (;;) {
      if (this.#closed) return { done: true, value: undefined };
      const queued = this.#queue.shift();
      if (queued) return { done: false, value: queued };
      if (this.#dirty) {
        this.#dirty = false;
        await this.#read();
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<StreamEvent>> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the stream (its consumer's next read is the end); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pendingTimer);
    this.#queue.length = 0;
    this.#options.onClose(this);
    this.poke();
  }

  /** One batch of each source after its position, in each source's order, sources in turn. */
  async #read(): Promise<void> {
    const { accountId, batchSize } = this.#options;
    for (const source of this.#options.sources) {
      const after = this.#position.get(source.key) ?? START;
      const { events, pending } = await source.since(accountId, after, batchSize);
      if (this.#closed) return;
      for (const event of events) {
        this.#position.set(source.key, event.position);
        // An event its source passes over (data undefined: e.g. a notification whose actor is gone) still moves the position.
        if (event.data === undefined) continue;
        this.#queue.push({ id: this.position, event: source.type, data: event.data });
      }
      // A full batch: there may be more right behind it.
      if (events.length >= batchSize) this.#dirty = true;
      if (pending && !this.#pendingTimer) {
        this.#pendingTimer = setTimeout(() => {
          this.#pendingTimer = undefined;
          this.poke();
        }, this.#options.pendingRetryMs);
        this.#pendingTimer.unref();
      }
    }
  }
}
