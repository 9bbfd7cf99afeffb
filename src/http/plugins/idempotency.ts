// Idempotency is declared in the contract: an operation marked `x-idempotent: true` runs at most
// once per Idempotency-Key, through the idempotency service (see the handlers' idempotency.ts);
// a retry gets the first response again. Without a key, it runs as any other.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblem, idempotencyKey, type RunIdempotently, type WireResponse } from '../../handlers/index.ts';
import type { OperationPlugin } from '../pipeline.ts';
import { toProblem } from './errors.ts';

export interface IdempotencyOptions {
  runIdempotently: RunIdempotently;
  /** Called once per response replayed for an Idempotency-Key (for metrics). */
  onIdempotentReplay?: (operationId: string) => void;
}

type HandlerResult = { status: number; body?: unknown; headers?: Record<string, string> };

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** A problem an operation answered with, as a response that can be recorded and replayed. */
function problemResponse(request: FastifyRequest, problem: ApiProblem): WireResponse {
  return {
    status: problem.status,
    headers: { ...problem.headers, 'content-type': PROBLEM_TYPE },
    body: problem.body(request.url.split('?')[0] ?? request.url, request.id),
  };
}

export function idempotency(options: IdempotencyOptions): OperationPlugin {
  /** Runs the operation once per key; a retry gets the first response again. */
  async function runKeyed(request: FastifyRequest, reply: FastifyReply, operationId: string, header: string, run: () => Promise<HandlerResult>) {
    const key = idempotencyKey(header);
    request.idempotencyKey = key;
    request.log = reply.log = request.log.child({ idempotencyKey: key });
    const { response, replayed } = await options.runIdempotently(
      { operationId, caller: request.caller, key, method: request.method, params: request.params, query: request.query, body: request.body },
      async () => {
        try {
          const result = await run();
          return { status: result.status, headers: result.headers ?? {}, body: result.body };
        } catch (error) {
          // The operation's own refusals (a taken handle, say) are its answer, kept for retries.
          // Anything else is a failure on our side: thrown, it rolls back and keeps nothing.
          const problem = toProblem(error, request);
          if (!problem || problem.status >= 500) throw error;
          return problemResponse(request, problem);
        }
      },
    );
    if (replayed) {
      request.idempotentReplayed = true;
      request.log = reply.log = request.log.child({ idempotentReplayed: true });
      options.onIdempotentReplay?.(operationId);
      reply.header('idempotent-replayed', 'true');
    }
    return response;
  }

  return ({ operationId, operation }) => {
    if (operation['x-idempotent'] !== true) return undefined;
    return (next) => async (request, reply) => {
      const header = request.headers['idempotency-key'];
      if (typeof header !== 'string') return next(request, reply);
      return runKeyed(request, reply, operationId, header, () => next(request, reply));
    };
  };
}
