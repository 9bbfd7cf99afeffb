// The client side of a domain served apart: each call is one POST to the domain server's
// internal API, with the shared secret, the request id of the call it is made for, an
// Idempotency-Key derived from that request's own key when it is a keyed write, and a deadline.
// A server that refuses the connection, resets it or does not answer in time is a
// ServiceUnavailable (answered 503 with Retry-After); the next call tries again, so service
// resumes by itself as soon as the server is back. Every call is counted and timed per target
// and operation, and an outage is logged where it begins and where it ends.
import { hash } from 'node:crypto';
import type { Log } from '../log.ts';
import { currentCall } from '../services/call-context.ts';
import { ServiceError, ServiceUnavailable } from '../services/errors.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import { decodeError, type ArgsOf, type LinesOf, type ResultOf, type WireError } from './wire.ts';

/** How a call ended: answered (ok), refused by the domain (rejected: a 4xx service error), failed on the server (error), or no answer. */
export type OutboundOutcome = 'ok' | 'rejected' | 'error' | 'unavailable' | 'timeout';

export interface RemoteClientOptions {
  /** The domain, e.g. `social`: the metrics' `target`, and the path prefix of its operations. */
  target: string;
  /** The domain server's base URL (`SOCIAL_SERVICE_URL`). */
  url: string;
  /** INTERNAL_API_TOKEN, sent as X-Internal-Token. */
  token: string | undefined;
  /** The longest a call may take, answer included (REMOTE_CALL_TIMEOUT_MS). */
  deadlineMs: number;
  /** What a 503 tells its client to wait. */
  retryAfterSeconds: number;
  log: Log;
  /** Sees every call (the outbound metrics). */
  observe?: (target: string, operation: string, outcome: OutboundOutcome, seconds: number) => void;
  /** Told when the domain server stops or starts answering. */
  onAvailability?: (target: string, up: boolean) => void;
}

/** The header the shared secret travels in. */
export const TOKEN_HEADER = 'x-internal-token';

/** The internal call's key: a function of the outer request's key (and whose it is), its operation and the internal operation. */
export function internalKey(outer: { scope: string; operation: string; key: string }, target: string, operation: string): string {
  return hash('sha256', [outer.scope, outer.operation, outer.key, target, operation].join('\u0000'), 'base64url');
}

export class RemoteClient<Ops> {
  readonly target: string;
  readonly #options: RemoteClientOptions;
  readonly #base: string;
  #available = true;

  constructor(options: RemoteClientOptions) {
    this.#options = options;
    this.target = options.target;
    this.#base = options.url.replace(/\/+$/, '');
  }

  /** False since a call found the domain server unreachable, until one reaches it again. */
  get available(): boolean {
    return this.#available;
  }

  /**
   * Calls `operation` with `args`. `unitOfWork`: the call is a write made in that unit of work,
   * for a request running under an Idempotency-Key, which is forwarded (derived) so that the
   * domain server replays a repeat; and it is made only once the unit of work's claim of that key
   * is known (`UnitOfWork.settle`): a retry of a finished request, or one sent while the first
   * runs, goes no further than its claim.
   */
  async call<K extends keyof Ops & string>(operation: K, args: ArgsOf<Ops[K]>, options: { unitOfWork?: UnitOfWork } = {}): Promise<ResultOf<Ops[K]>> {
    const { target, token, deadlineMs, observe } = this.#options;
    const context = currentCall();
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(token === undefined ? {} : { [TOKEN_HEADER]: token }) };
    if (context?.requestId) headers['x-request-id'] = context.requestId;
    if (options.unitOfWork) {
      await options.unitOfWork.settle?.();
      if (context?.idempotency) headers['idempotency-key'] = internalKey(context.idempotency, target, operation);
    }
    const started = performance.now();
    const done = (outcome: OutboundOutcome) => observe?.(target, operation, outcome, (performance.now() - started) / 1000);
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.#base}/internal/${target}/${operation}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ args }),
        signal: AbortSignal.timeout(deadlineMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      done(timedOut ? 'timeout' : 'unavailable');
      this.#down(timedOut ? `no answer within ${deadlineMs} ms` : describe(error), operation);
      throw new ServiceUnavailable(target, timedOut ? 'no answer in time' : 'unreachable', this.#options.retryAfterSeconds);
    }
    this.#up();
    if (response.status === 204) {
      done('ok');
      return undefined as ResultOf<Ops[K]>;
    }
    if (response.ok) {
      done('ok');
      return JSON.parse(text) as ResultOf<Ops[K]>;
    }
    throw this.#refusal(operation, response, text, done);
  }

  /**
   * What a call answered with an error status raises: the domain's error (rejected), a 503 as
   * ServiceUnavailable (of the domain it names, when one the domain server calls is down; of this
   * one otherwise), anything else as an error.
   */
  #refusal(
    operation: string,
    response: Response,
    text: string,
    done: (outcome: OutboundOutcome) => void,
    decode: (wire: WireError) => ServiceError | undefined = () => undefined,
  ): Error {
    const { target, log } = this.#options;
    if (response.status >= 400 && response.status < 500) {
      const decoded = parseError(text, decode);
      if (decoded) {
        done('rejected');
        return decoded;
      }
    }
    done('error');
    if (response.status === 503) {
      // A domain the domain server calls in turn is unavailable: that one's outage, said as such.
      const further = parseError(text);
      if (further instanceof ServiceUnavailable) return further;
      // The domain server is up but cannot serve (its database, its load): retry later, as it says.
      const retryAfter = Number(response.headers.get('retry-after')) || this.#options.retryAfterSeconds;
      return new ServiceUnavailable(target, 'overloaded or without its database', retryAfter);
    }
    log.error({ target, operation, status: response.status, body: text.slice(0, 500) }, 'a domain server answered a call with an error');
    return new Error(`the ${target} domain server answered ${operation} with status ${response.status}`);
  }

  /**
   * Calls `operation`, which answers a stream (`application/x-ndjson`): its lines, one JSON value
   * each, as the domain server writes them; an empty line is its heartbeat. The deadline holds
   * until the answer starts; then the stream is alive as long as a line (a heartbeat at least)
   * arrives within twice the heartbeat interval the server announces (`X-Heartbeat-Ms`) plus the
   * deadline. A stream the server ends (its shutdown) is done; one cut off, or silent for longer,
   * fails with ServiceUnavailable (the outage is logged where it begins). `decode` reads the
   * domain's own error kinds, beside the shared ones.
   */
  async stream<K extends keyof Ops & string>(
    operation: K,
    args: ArgsOf<Ops[K]>,
    decode: (wire: WireError) => ServiceError | undefined = () => undefined,
  ): Promise<AsyncIterator<LinesOf<Ops[K]>> & { return(): Promise<IteratorResult<LinesOf<Ops[K]>>> }> {
    const { target, token, deadlineMs, observe, retryAfterSeconds } = this.#options;
    const context = currentCall();
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/x-ndjson', ...(token === undefined ? {} : { [TOKEN_HEADER]: token }) };
    if (context?.requestId) headers['x-request-id'] = context.requestId;
    const started = performance.now();
    const done = (outcome: OutboundOutcome) => observe?.(target, operation, outcome, (performance.now() - started) / 1000);
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(new DOMException('no answer in time', 'TimeoutError')), deadlineMs);
    let response: Response;
    try {
      response = await fetch(`${this.#base}/internal/${target}/${operation}`, { method: 'POST', headers, body: JSON.stringify({ args }), signal: abort.signal });
    } catch (error) {
      clearTimeout(deadline);
      const timedOut = abort.signal.aborted;
      done(timedOut ? 'timeout' : 'unavailable');
      this.#down(timedOut ? `no answer within ${deadlineMs} ms` : describe(error), operation);
      throw new ServiceUnavailable(target, timedOut ? 'no answer in time' : 'unreachable', this.#options.retryAfterSeconds);
    }
    clearTimeout(deadline);
    this.#up();
    if (!response.ok || !response.body) {
      let text = '';
      try {
        text = await response.text();
      } catch {
        // The body is lost with the connection: the status says enough.
      }
      throw this.#refusal(operation, response, text, done, decode);
    }
    done('ok');
    const heartbeatMs = Number(response.headers.get('x-heartbeat-ms')) || 15_000;
    const silenceMs = 2 * heartbeatMs + deadlineMs;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      abort.abort();
      void reader.cancel().catch(() => {});
    };
    const read = async (): Promise<Chunk> => {
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no line within ${silenceMs} ms`), { silent: true })), silenceMs);
      });
      try {
        return await Promise.race([reader.read(), silent]);
      } finally {
        clearTimeout(timer);
      }
    };
    const unavailable = (error: unknown) => {
      finish();
      this.#down((error as { silent?: boolean }).silent ? (error as Error).message : `its stream was cut off (${describe(error)})`, operation);
      return new ServiceUnavailable(target, 'its stream was cut off', this.#options.retryAfterSeconds);
    };
    type Line = LinesOf<Ops[K]>;
    return {
      async next(): Promise<IteratorResult<Line>> {
        for (;;) {
          if (finished) return { done: true, value: undefined };
          const newline = buffer.indexOf('\n');
          if (newline >= 0) {
            const line = buffer.slice(0, newline).trim();
            buffer = buffer.slice(newline + 1);
            if (line === '') continue;
            const value = JSON.parse(line) as Line | { error: WireError };
            if (isErrorLine(value)) {
              // The stream failed on the domain server with a domain error (a domain it reads is
              // down): that error, as the domain server raised it; this server is not unavailable.
              finish();
              throw decodeError(value.error) ?? decode(value.error) ?? new ServiceUnavailable(target, value.error.message, retryAfterSeconds);
            }
            return { done: false, value };
          }
          let chunk: Chunk;
          try {
            chunk = await read();
          } catch (error) {
            if (finished) return { done: true, value: undefined };
            throw unavailable(error);
          }
          if (chunk.done) {
            finish();
            return { done: true, value: undefined };
          }
          buffer += decoder.decode(chunk.value, { stream: true });
        }
      },
      async return(): Promise<IteratorResult<Line>> {
        finish();
        return { done: true, value: undefined };
      },
    };
  }

  #down(reason: string, operation: string): void {
    if (!this.#available) return;
    this.#available = false;
    this.#options.log.warn({ target: this.target, operation, reason }, `the ${this.target} domain server is unreachable: answering 503 until it is back`);
    this.#options.onAvailability?.(this.target, false);
  }

  #up(): void {
    if (this.#available) return;
    this.#available = true;
    this.#options.log.info({ target: this.target }, `the ${this.target} domain server answers again`);
    this.#options.onAvailability?.(this.target, true);
  }
}

/** One read of a response body. */
type Chunk = { done: true; value?: undefined } | { done: false; value: Uint8Array };

function parseError(text: string, decode: (wire: WireError) => ServiceError | undefined = () => undefined): ServiceError | undefined {
  try {
    const body = JSON.parse(text) as WireError;
    return typeof body?.kind === 'string' && typeof body.message === 'string' ? (decodeError(body) ?? decode(body)) : undefined;
  } catch {
    return undefined;
  }
}

/** A stream's last line when it failed with a domain error on the domain server (see src/remote/server.ts, sendLines). */
function isErrorLine(value: unknown): value is { error: WireError } {
  if (typeof value !== 'object' || value === null || !('error' in value) || 'event' in value) return false;
  const error = (value as { error: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as WireError).kind === 'string';
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
