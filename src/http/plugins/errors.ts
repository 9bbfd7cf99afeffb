// The one place where anything thrown becomes an RFC 9457 problem response: the services'
// errors, the contract's validation, Fastify's own refusals. Unexpected errors are logged once,
// with their stack, and answered with a 500 that reveals nothing; a database that cannot be
// reached is a 503 with Retry-After.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  ApiProblem,
  Conflict,
  ECHO_LENGTH,
  Forbidden,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidCredentials,
  InvalidInput,
  NotFound,
  PreconditionFailed,
  ServiceError,
  ServiceUnavailable,
  SignInRequired,
  Unauthenticated,
  WWW_AUTHENTICATE,
  clip,
} from '../../handlers/index.ts';
import { pathMethods, type ServedApi } from '../conventions.ts';
import { fieldProblems } from '../validation.ts';
import '../types.ts';

export interface ProblemsOptions {
  /** Every API version's contract and the prefix it is served under, to tell 405 from 404. */
  apis: ServedApi[];
  /** True for errors meaning a dependency (the database) is unreachable: answered 503. */
  isUnavailable: (error: unknown) => boolean;
  retryAfterSeconds: number;
}

/**
 * The problem a service error stands for. `inputs` names where the operation's query and path
 * parameters come from on the wire (`cursor` → `query/cursor`, from the contract); any other
 * field a service names is a body field, pointed at with a JSON Pointer.
 */
function serviceProblem(error: ServiceError, inputs: Record<string, string>): ApiProblem {
  const pointer = (field: string) => inputs[field] ?? `/${field}`;
  if (error instanceof NotFound) return new ApiProblem('not-found', error.message);
  if (error instanceof Forbidden) return new ApiProblem('forbidden', error.message);
  if (error instanceof Conflict) {
    return new ApiProblem('conflict', error.message, {
      errors: error.field ? [{ pointer: pointer(error.field), detail: error.message }] : undefined,
    });
  }
  if (error instanceof PreconditionFailed) {
    return new ApiProblem('precondition-failed', `If-Match does not match: ${error.message}; read it again`, {
      extensions: { currentVersion: error.currentVersion },
      headers: { etag: `"${error.currentVersion}"` },
    });
  }
  if (error instanceof IdempotencyKeyInFlight) {
    return new ApiProblem('idempotency-in-flight', error.message, { headers: { 'retry-after': String(error.retryAfterSeconds) } });
  }
  if (error instanceof ServiceUnavailable) {
    // A domain served by another process did not answer (src/remote/client.ts): retry later.
    return new ApiProblem('service-unavailable', error.message, { headers: { 'retry-after': String(error.retryAfterSeconds) } });
  }
  if (error instanceof IdempotencyKeyReused) return new ApiProblem('idempotency-key-reused', error.message);
  if (error instanceof InvalidCredentials) return new ApiProblem('invalid-credentials', error.message);
  if (error instanceof SignInRequired) {
    // No credential at all: the challenge says how to send one (RFC 6750, 3: no error code).
    return new ApiProblem('unauthenticated', 'send a session token as "Authorization: Bearer <token>"', {
      headers: { 'www-authenticate': WWW_AUTHENTICATE },
    });
  }
  if (error instanceof Unauthenticated) {
    return new ApiProblem('unauthenticated', error.message, {
      headers: { 'www-authenticate': `${WWW_AUTHENTICATE}, error="invalid_token"` },
    });
  }
  if (error instanceof InvalidInput) {
    return new ApiProblem('validation-error', 'the request is not valid', {
      errors: error.errors.map((e) => ({ pointer: pointer(e.field), detail: e.detail })),
    });
  }
  return new ApiProblem('internal-error', 'an unexpected error occurred', { cause: error });
}

/**
 * Translates what Fastify, the contract's validation and our layers throw into a problem;
 * undefined = unexpected. `request` tells, by its operation, where a service's fields came from.
 */
export function toProblem(error: unknown, request?: FastifyRequest): ApiProblem | undefined {
  if (error instanceof ApiProblem) return error;
  if (error instanceof ServiceError) return serviceProblem(error, request?.routeOptions.config.inputs ?? {});
  const e = error as FastifyError & { validation?: unknown[]; validationContext?: string; type?: string };
  if (e.validation && e.validationContext) {
    const errors = fieldProblems(e.validation as never, e.validationContext);
    if (e.validationContext === 'headers' && errors.some((f) => f.pointer === 'header/if-match' && f.detail === 'is required')) {
      return new ApiProblem('precondition-required', 'send If-Match with the ETag you last read', { errors });
    }
    return new ApiProblem('validation-error', `the request's ${e.validationContext === 'querystring' ? 'query' : e.validationContext} is not valid`, { errors });
  }
  switch (e.code) {
    case 'FST_ERR_BAD_URL':
      return new ApiProblem('malformed-request', 'the URL is not validly percent-encoded');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiProblem('malformed-request', 'a path segment is too long');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiProblem('payload-too-large', 'the body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new ApiProblem('unsupported-media-type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiProblem('malformed-request', 'the body is empty but its content type says JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiProblem('malformed-request', 'the body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiProblem('malformed-request', 'Content-Length does not match the body');
  }
  if (error instanceof SyntaxError && e.statusCode === 400) {
    return new ApiProblem('malformed-request', 'the body is not valid JSON');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiProblem('malformed-request', 'the request could not be read');
  }
  return undefined;
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ApiProblem) {
  request.problem = problem;
  return reply
    .code(problem.status)
    .header('x-request-id', request.id) // also on errors raised before any hook ran
    .headers(problem.headers)
    .type('application/problem+json')
    .send(problem.body(request.url.split('?')[0] ?? request.url, request.id));
}

/** Fastify's own routing failures (bad percent-encoding, over-long path segments), as problems. */
export function frameworkErrors(error: Error, request: FastifyRequest, reply: FastifyReply) {
  const problem = toProblem(error) ?? new ApiProblem('malformed-request', 'the request could not be read');
  return sendProblem(request, reply, problem);
}

export const problems = fp(async (app: FastifyInstance, options: ProblemsOptions) => {
  app.decorateRequest('problem', null);
  app.decorateRequest('unexpectedError', false);
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request);
    if (problem) {
      // A 503 refusal (load shed, database outage, draining) is expected: the request's own line
      // says which, the metrics count them, and an outage is logged where it begins and ends.
      if (problem.status >= 500 && problem.slug !== 'service-unavailable') {
        request.log.error({ err: error }, 'request failed');
        if (problem.slug === 'internal-error') request.unexpectedError = true;
      }
      return sendProblem(request, reply, problem);
    }
    if (options.isUnavailable(error)) {
      // Expected while the database is away (persistence/availability.ts logs the outage once).
      request.log.debug({ err: error }, 'the database is unreachable');
      return sendProblem(request, reply, new ApiProblem('service-unavailable', `the database is unreachable; retry in ${options.retryAfterSeconds} s`, {
        headers: { 'retry-after': String(options.retryAfterSeconds) },
      }));
    }
    request.unexpectedError = true;
    request.log.error({ err: error }, 'unexpected error');
    return sendProblem(request, reply, new ApiProblem('internal-error', `an unexpected error occurred; quote request id ${request.id} when reporting it`));
  });

  const methodsOf = pathMethods(options.apis);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const known = methodsOf(path);
    const quoted = clip(path, ECHO_LENGTH);
    // The router refuses a parameter over its length limit; the path is the contract's, the request is not.
    if (known?.overlong) return sendProblem(request, reply, new ApiProblem('malformed-request', 'a path segment is too long'));
    if (known) {
      return sendProblem(request, reply, new ApiProblem('method-not-allowed', `${request.method} is not allowed on ${quoted}`, { headers: { allow: known.methods.join(', ') } }));
    }
    return sendProblem(request, reply, new ApiProblem('not-found', `nothing lives at ${quoted}`));
  });
});
