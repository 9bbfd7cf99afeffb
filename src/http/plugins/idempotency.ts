// Idempotency is declared in the contract: an operation marked `x-idempotent: true` runs at most
// once per Idempotency-Key, through the idempotency service (see the handlers' idempotency.ts);
// a retry gets the first response again, as the bytes first sent. Without a key, it runs as any
// other. The service opens the unit of work that the key's record commits in; the handler gets
// it (request.unitOfWork) and passes it to the service's write, so both commit or neither.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblem, idempotencyKey, type RecordedResponse, type RunIdempotently } from '../../handlers/index.ts';
import type { Answer, OperationPlugin } from '../pipeline.ts';
import { toProblem } from './errors.ts';

export interface IdempotencyOptions {
  runIdempotently: RunIdempotently;
  /** Called once per response replayed for an Idempotency-Key (for metrics). */
  onIdempotentReplay?: (operationId: string) => void;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/**
 * An answer as the bytes Fastify would send for it: serialized by the route's response schema
 * for its status and media type, as `send` does, so that a keyed request's first answer and
 * every replay of it are the same text as an unkeyed one.
 */
function recorded(reply: FastifyReply, answer: Answer): RecordedResponse {
  const { status, headers, body } = answer;
  if (answer.serialized) return { status, headers, body: answer.body };
  if (body === undefined) return { status, headers, body: null };
  const mediaType = (headers['content-type'] ?? JSON_TYPE).split(';')[0]!.trim();
  const serializer = [String(status), `${String(status)[0]}xx`]
    .flatMap((code) => [reply.getSerializationFunction(code, mediaType), reply.getSerializationFunction(code)])
    .find((candidate): candidate is (data: unknown) => string => typeof candidate === 'function');
  return { status, headers, body: serializer ? serializer(body) : JSON.stringify(body) };
}

/** A problem an operation answered with, as a response that can be recorded and replayed. */
function problemResponse(request: FastifyRequest, reply: FastifyReply, problem: ApiProblem): RecordedResponse {
  const headers = { ...problem.headers, 'content-type': PROBLEM_TYPE };
  return recorded(reply, { status: problem.status, headers, body: problem.body(request.url.split('?')[0] ?? request.url, request.id) });
}

/**
 * Adds `bindings` to every line the request logs from here on. Fastify gives each request a
 * logger of its own (pino's child of the server's), so they are added to it in place. A child
 * of that child, as this did before, cost about 20–45 µs a keyed request: V8 turns an object into a
 * prototype the first time another is made from it, and here that was a new object each time
 * (bench/README.md). A logger without `setBindings` (Fastify's, when logging is off) gets a
 * child, as before.
 */
function bindToLog(request: FastifyRequest, reply: FastifyReply, bindings: Record<string, unknown>): void {
  const log = request.log as FastifyRequest['log'] & { setBindings?: (bindings: Record<string, unknown>) => void };
  if (typeof log.setBindings === 'function') log.setBindings(bindings);
  else request.log = reply.log = log.child(bindings);
}

export function idempotency(options: IdempotencyOptions): OperationPlugin {
  /** Runs the operation once per key; a retry gets the first response again. */
  async function runKeyed(request: FastifyRequest, reply: FastifyReply, operationId: string, api: string, header: string, run: () => Promise<Answer>): Promise<Answer> {
    const key = idempotencyKey(header);
    request.idempotencyKey = key;
    bindToLog(request, reply, { idempotencyKey: key });
    const { response, replayed } = await options.runIdempotently(
      { operationId, api, caller: request.caller, key, method: request.method, params: request.params, query: request.query, body: request.body },
      async (unitOfWork) => {
        request.unitOfWork = unitOfWork;
        try {
          return recorded(reply, await run());
        } catch (error) {
          // The operation's own refusals (a taken handle, say) are its answer, kept for retries.
          // Anything else is a failure on our side: thrown, it rolls back and keeps nothing.
          const problem = toProblem(error, request);
          if (!problem || problem.status >= 500) throw error;
          return problemResponse(request, reply, problem);
        } finally {
          // The unit of work ends with this callback: nothing after it may write through it.
          request.unitOfWork = undefined;
        }
      },
    );
    if (replayed) {
      request.idempotentReplayed = true;
      bindToLog(request, reply, { idempotentReplayed: true });
      options.onIdempotentReplay?.(operationId);
      reply.header('idempotent-replayed', 'true');
    }
    return { ...response, serialized: true };
  }

  return ({ operationId, prefix, operation }) => {
    if (operation['x-idempotent'] !== true) return undefined;
    return (next) => async (request, reply) => {
      const header = request.headers['idempotency-key'];
      if (typeof header !== 'string') return next(request, reply);
      return runKeyed(request, reply, operationId, prefix, header, () => next(request, reply));
    };
  };
}
