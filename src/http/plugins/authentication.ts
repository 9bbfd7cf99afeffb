// Bearer tokens, switched on by an operation's `security` in the contract. Where it names
// `bearerAuth`, the token is resolved into the caller through the sessions service; where it
// also allows anonymous callers (`{}`), a request without a token goes on with no caller, but a
// token that is sent and not valid is still refused. An operation with `security: []` never
// looks at the header. Refusals are service errors (SignInRequired, Unauthenticated), turned
// into 401 problems with their WWW-Authenticate challenge by plugins/errors.ts.
import type { FastifyRequest } from 'fastify';
import { SignInRequired, type Authenticate } from '../../handlers/index.ts';
import type { OperationPlugin } from '../pipeline.ts';
import '../types.ts';

/** The scheme this plugin implements, as openapi.yaml's components name it. */
export const BEARER_SCHEME = 'bearerAuth';

/** The token of an `Authorization: Bearer` header: undefined without the header, '' for one of another form. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1] : '';
}

export function authentication(authenticate: Authenticate): OperationPlugin {
  return ({ operationId, security }) => {
    const unknown = security.flatMap(Object.keys).filter((scheme) => scheme !== BEARER_SCHEME);
    if (unknown.length > 0) throw new Error(`operation "${operationId}" requires the security scheme(s) ${unknown.join(', ')}, which no plugin implements`);
    if (!security.some((requirement) => BEARER_SCHEME in requirement)) return undefined;
    const anonymous = security.some((requirement) => Object.keys(requirement).length === 0);
    return (next) => async (request, reply) => {
      const token = bearerToken(request);
      if (token !== undefined) request.caller = await authenticate(token);
      else if (!anonymous) throw new SignInRequired();
      return next(request, reply);
    };
  };
}
