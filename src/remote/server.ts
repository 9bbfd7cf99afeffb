// The server side of a domain served apart (SERVE_DOMAINS): its internal API, one POST route per
// operation of its internal contract (internal/<domain>.openapi.yaml), each calling the domain's
// service in this process. Only callers that send the shared secret are served. A keyed write
// (Idempotency-Key, derived by the caller from its own request's key) runs at most once: its
// result is recorded by the idempotency service in the write's own transaction, and a repeat is
// answered from the record. The request id the caller sends is this side's request id, so both
// sides log the call under one id. Health probes (/healthz, /readyz) are served beside it.
import { hash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { parse } from 'yaml';
import type { IdempotencyService } from '../services/idempotency/index.ts';
import { ServiceError } from '../services/errors.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import { TOKEN_HEADER } from './client.ts';
import { BAD_CALL, encodeError, type WireError } from './wire.ts';

/** One operation of a domain's internal contract, over its service in this process. */
export interface InternalOperation {
  /** Takes Idempotency-Key: `run` is given the unit of work its result is recorded in. */
  keyed: boolean;
  /** Its keys are looked up before `run` starts: its work is dear before its first write (a password hashed or checked). */
  lookupFirst?: boolean;
  /** Answers a stream: `run` gives an iterator whose items are written as NDJSON lines (see `streams`). */
  stream?: boolean;
  run(args: never, unitOfWork?: UnitOfWork): Promise<unknown>;
}

/** How operations that answer a stream are written. */
export interface InternalStreamOptions {
  /** How often an empty line is written on a stream with nothing else to send (announced as X-Heartbeat-Ms). */
  heartbeatMs: number;
  /** The most bytes a stream may have waiting to be sent before its caller is dropped. */
  maxBufferedBytes: number;
  /** A caller dropped for not reading. */
  onSlowClient?: () => void;
}

/** A domain's internal API, bound to its services. */
export interface InternalBinding {
  /** The domain, the path prefix of its operations (`/internal/<target>/<operationId>`). */
  target: string;
  /** Its internal contract (the OpenAPI document the stub's types are generated from). */
  contract: URL;
  operations: Readonly<Record<string, InternalOperation>>;
}

export interface DomainServerOptions {
  bindings: readonly InternalBinding[];
  /** INTERNAL_API_TOKEN; without it, only callers on this machine (loopback) are answered. */
  token: string | undefined;
  idempotency: Pick<IdempotencyService, 'execute'>;
  logger: FastifyServerOptions['logger'];
  bodyLimitBytes: number;
  /** The database answers (for /readyz). */
  ready: () => Promise<boolean>;
  /** True for errors meaning the database is unreachable: answered 503. */
  isUnavailable: (error: unknown) => boolean;
  retryAfterSeconds: number;
  onCall?: (target: string, operation: string, status: number, seconds: number) => void;
  onClose?: () => Promise<void>;
  /** How streams are written (operations with `stream`). */
  streams?: InternalStreamOptions;
}

// ajv-formats is CommonJS: its default export is the function (as src/http/validation.ts takes it).
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function canonical(value: unknown): string {
  if (value === undefined || value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** A caller on this machine: 127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(v4);
}

function sameSecret(sent: unknown, token: string): boolean {
  if (typeof sent !== 'string') return false;
  const a = hash('sha256', sent, 'buffer');
  const b = hash('sha256', token, 'buffer');
  return timingSafeEqual(a, b);
}

/** The validators of every operation's request body, from the binding's contract. */
function bodyValidators(binding: InternalBinding) {
  const document = parse(readFileSync(binding.contract, 'utf8')) as { paths: Record<string, { post?: { operationId?: string } }> };
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats(ajv);
  ajv.addSchema(document as object, 'contract');
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();
  for (const [path, item] of Object.entries(document.paths)) {
    const operationId = item.post?.operationId;
    if (!operationId) continue;
    const pointer = `/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/post/requestBody/content/application~1json/schema`;
    validators.set(operationId, ajv.compile({ $ref: `contract#${pointer}` }));
  }
  for (const operation of Object.keys(binding.operations)) {
    if (!validators.has(operation)) throw new Error(`the internal contract of ${binding.target} has no operation ${operation}`);
  }
  return validators;
}

export async function buildDomainServer(options: DomainServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger,
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (request) => {
      const sent = request.headers['x-request-id'];
      return typeof sent === 'string' && SANE_ID.test(sent) ? sent : crypto.randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
  });
  const fail = (status: number, body: WireError) => ({ status, body });
  const streams = { heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024, ...options.streams };
  // The streams open now: ended cleanly (their responses complete) when the server closes, so
  // that callers see the end of a stream rather than a cut, and `close()` is not held up by them.
  const openStreams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });

  app.setErrorHandler((error, request, reply) => {
    let answer: { status: number; body: WireError };
    if (error instanceof ServiceError) {
      answer = encodeError(error);
      // A domain this server calls in turn is down (ServiceUnavailable): 503, with when to retry.
      if (answer.body.retryAfterSeconds !== undefined && answer.status === 503) reply.header('retry-after', String(answer.body.retryAfterSeconds));
    } else if ((error as { validation?: unknown }).validation || (error as { statusCode?: number }).statusCode === 400 || (error as { statusCode?: number }).statusCode === 415) {
      answer = fail(400, { kind: BAD_CALL, message: (error as Error).message });
    } else if (options.isUnavailable(error)) {
      request.log.debug({ err: error }, 'the database is unreachable');
      reply.header('retry-after', String(options.retryAfterSeconds));
      answer = fail(503, { kind: 'service-unavailable', message: 'the database is unreachable' });
    } else {
      request.log.error({ err: error }, 'unexpected error in an internal call');
      answer = fail(500, { kind: 'internal-error', message: `an unexpected error occurred (request id ${request.id})` });
    }
    return reply.code(answer.status).header('x-request-id', request.id).send(answer.body);
  });

  // One line and one count per call, whatever its outcome (the caller logs it under the same request id).
  // (A stream is counted and logged when it starts: see sendLines.)
  const streamed = new WeakSet<FastifyRequest>();
  app.addHook('onResponse', async (request, reply) => {
    const { target, operation } = (request.routeOptions.config ?? {}) as { target?: string; operation?: string };
    if (target === undefined || operation === undefined || streamed.has(request)) return;
    const seconds = reply.elapsedTime / 1000;
    options.onCall?.(target, operation, reply.statusCode, seconds);
    request.log.info({ target, operation, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'internal call');
  });

  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await options.ready().catch(() => false);
    reply.header('cache-control', 'no-store').code(ready ? 200 : 503);
    if (!ready) reply.header('retry-after', String(options.retryAfterSeconds));
    return reply.send({ status: ready ? 'ready' : 'not-ready', checks: { database: ready ? 'ok' : 'unreachable' }, serves: options.bindings.map((b) => b.target) });
  });

  for (const binding of options.bindings) {
    const validators = bodyValidators(binding);
    for (const [operationId, operation] of Object.entries(binding.operations)) {
      const validate = validators.get(operationId)!;
      app.post(`/internal/${binding.target}/${operationId}`, { config: { target: binding.target, operation: operationId } }, async (request, reply) => {
        reply.header('x-request-id', request.id);
        if (options.token === undefined ? !isLoopback(request.socket.remoteAddress) : !sameSecret(request.headers[TOKEN_HEADER], options.token)) {
          request.log.warn({ target: binding.target, operation: operationId }, 'internal call without the right X-Internal-Token');
          const message = options.token === undefined
            ? 'this domain server has no INTERNAL_API_TOKEN: it answers callers on its own machine only'
            : `send the shared secret (INTERNAL_API_TOKEN) as ${TOKEN_HEADER}`;
          return reply.code(401).send({ kind: 'unauthenticated', message } satisfies WireError);
        }
        if (!validate(request.body)) {
          const detail = validate.errors?.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ') ?? 'invalid';
          return reply.code(400).send({ kind: BAD_CALL, message: `the call does not match the internal contract: ${detail}` } satisfies WireError);
        }
        const args = (request.body as { args: never }).args;
        const key = request.headers['idempotency-key'];
        if (operation.keyed && typeof key === 'string' && SANE_ID.test(key)) {
          const { response, replayed } = await options.idempotency.execute(
            {
              scope: `internal:${binding.target}`,
              operation: operationId,
              key,
              fingerprint: hash('sha256', canonical(args), 'hex'),
              lookupFirst: operation.lookupFirst === true,
            },
            async (unitOfWork) => {
              const result = await operation.run(args, unitOfWork);
              return {
                response: { status: result === undefined ? 204 : 200, headers: {}, body: result === undefined ? null : JSON.stringify(result) },
                keep: true,
              };
            },
          );
          if (replayed) {
            request.log.info({ target: binding.target, operation: operationId }, 'internal call replayed from its idempotency key');
            reply.header('idempotent-replayed', 'true');
          }
          reply.code(response.status);
          return response.body === null ? reply.send() : reply.type('application/json').send(response.body);
        }
        const result = await operation.run(args);
        if (operation.stream) return sendLines(request, reply, result as AsyncIterator<unknown> & { return(): Promise<unknown> });
        if (result === undefined) return reply.code(204).send();
        return reply.code(200).send(result);
      });
    }
  }
  /**
   * Writes `items` as NDJSON as they are pulled, with an empty line every heartbeat. Ends when
   * they end, when the caller leaves, when the server closes (cleanly: the response completes),
   * when they fail with a domain error (a last line `{"error": <ServiceError>}`, then cleanly),
   * when they fail otherwise (cut off: the caller must not take it for an end), and when the
   * caller does not read (past maxBufferedBytes: cut off, the caller resumes from its last event).
   */
  function sendLines(request: FastifyRequest, reply: FastifyReply, items: AsyncIterator<unknown> & { return(): Promise<unknown> }) {
    const { log } = request;
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string | number | string[]>),
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      'x-heartbeat-ms': String(streams.heartbeatMs),
      // The connection closes with the stream: kept alive, one ended at shutdown would hold the
      // server's close up until the keep-alive timeout.
      connection: 'close',
    });
    raw.flushHeaders();
    // Counted and logged as answered when it starts (its end is the caller's or the server's).
    const { target, operation } = request.routeOptions.config as unknown as { target: string; operation: string };
    streamed.add(request);
    options.onCall?.(target, operation, 200, reply.elapsedTime / 1000);
    log.info({ target, operation, status: 200, ms: Math.round(reply.elapsedTime) }, 'internal call (a stream, open)');
    let ended = false;
    const end = (why: 'done' | 'caller' | 'shutdown' | 'slow' | 'error', error?: unknown) => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      openStreams.delete(shutdown);
      void items.return().catch(() => {});
      if (why === 'slow') {
        log.warn({ bufferedBytes: raw.writableLength }, 'internal stream caller does not read; disconnected');
        streams.onSlowClient?.();
      }
      if (why === 'error') log.error({ err: error }, 'internal stream failed; cut off');
      if (why === 'slow' || why === 'error') raw.destroy();
      else if (!raw.writableEnded && !raw.destroyed) raw.end();
    };
    const shutdown = () => end('shutdown');
    openStreams.add(shutdown);
    raw.on('close', () => end('caller'));
    const write = (text: string): boolean => {
      if (ended) return false;
      if (raw.writableLength > streams.maxBufferedBytes) {
        end('slow');
        return false;
      }
      raw.write(text);
      return true;
    };
    const heartbeat = setInterval(() => write('\n'), streams.heartbeatMs);
    heartbeat.unref();
    void (async () => {
      try {
        for (;;) {
          const next = await items.next();
          if (next.done || ended) break;
          if (!write(`${JSON.stringify(next.value)}\n`)) return;
        }
        end('done');
      } catch (error) {
        if (error instanceof ServiceError) {
          // A domain error (a source's domain served apart, and down): the caller is told which in
          // a last line, and the stream ends there, cleanly. This server is not the one at fault.
          log.warn({ err: error }, 'internal stream ended: reading it failed with a domain error');
          write(`${JSON.stringify({ error: encodeError(error).body })}\n`);
          end('done');
        } else {
          end('error', error);
        }
      }
    })();
    return reply;
  }

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ kind: 'not-found', message: `no internal operation at ${request.method} ${request.url.split('?')[0]}` } satisfies WireError),
  );
  if (options.onClose) {
    const onClose = options.onClose;
    app.addHook('onClose', async () => onClose());
  }
  await app.ready();
  return app;
}
