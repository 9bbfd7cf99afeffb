// Requests Node's HTTP/1.1 parser refuses before Fastify sees them (an unknown method such as
// FOO, headers over the size limit, a request that takes too long to arrive) are answered with a
// problem document like every other error: a fresh request id, the security headers and, where
// the client's address is known, the rate-limit headers. There is no request object, so the
// response is written to the socket by hand, and the connection is closed after it.
// HTTP/2 has no such parser: a request with an unknown method reaches Fastify, whose router
// has no route at all for it (it logs a warning about a bug in Fastify, with the whole route
// tree, and answers 404); such requests get the same problem before Fastify sees them.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { FastifyInstance } from 'fastify';
import { ApiProblem } from '../../handlers/index.ts';
import { LINGER } from './lingering-close.ts';
import { NOT_STORED } from './caching.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

export interface ClientErrorOptions {
  /** Behind a proxy the socket's address is the proxy's: no quota is charged to it. */
  trustProxy: boolean;
}

/** The problem for an error of Node's parser (the `code` of a `clientError`). */
export function parseProblem(code: string | undefined, headerLimit = maxHeaderSize): ApiProblem {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiProblem('headers-too-large', `the request line and headers are larger than ${headerLimit} bytes`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiProblem('request-timeout', 'the request did not arrive in time');
    case 'HPE_INVALID_METHOD':
      return new ApiProblem('malformed-request', 'the request method is not one this server knows');
    default:
      return new ApiProblem('malformed-request', 'the request could not be parsed as HTTP/1.1');
  }
}

/** How long a socket may stay open for the problem before it is destroyed anyway. */
const FLUSH_TIMEOUT_MS = 5_000;

export function clientErrorHandler(options: ClientErrorOptions) {
  // The parser stays in its error state: more data on the socket reports the same error again.
  const answered = new WeakSet<Socket>();
  return function onClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
    if (answered.has(socket)) return;
    answered.add(socket);
    void answer(this, error, socket, options).catch((failure: unknown) => {
      this.log.error({ err: failure }, 'answering a request the HTTP parser refused failed');
      socket.destroy();
    });
  };
}

interface RawProblem {
  problem: ApiProblem;
  requestId: string;
  headers: Record<string, string>;
  body: string;
}

/** The problem response for a request Fastify never saw, from `address`. */
async function rawProblem(app: FastifyInstance, problem: ApiProblem, address: string | undefined, options: ClientErrorOptions, code?: string): Promise<RawProblem> {
  const requestId = randomUUID();
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json; charset=utf-8',
    ...SECURITY_HEADERS,
    'cache-control': NOT_STORED,
    'x-request-id': requestId,
    ...problem.headers,
  };
  if (!options.trustProxy && address) Object.assign(headers, (await app.chargeAddress(address)).headers);
  app.log.info({ requestId, code, status: problem.status, remoteAddress: address, detail: problem.message }, 'request refused before routing');
  return { problem, requestId, headers, body: JSON.stringify(problem.body(undefined, requestId)) };
}

async function answer(app: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket, options: ClientErrorOptions): Promise<void> {
  // As Node does: nothing to write to a reset connection, or into a response already under way.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const problem = parseProblem(error.code, (app.server as { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize);
  const { headers, body } = await rawProblem(app, problem, socket.remoteAddress, options, error.code);
  if (socket.destroyed || !socket.writable) return;
  const lines = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  // Destroying the socket with what the client sent after the error still unread would reset
  // the connection, and the client could lose the problem: close once the client has ended too,
  // or after a pause in what it sends.
  const timer = setTimeout(() => socket.destroy(), FLUSH_TIMEOUT_MS);
  timer.unref();
  let written = false;
  let ended = false;
  const closeWhenDone = () => {
    if (written && ended) socket.destroy();
  };
  socket.once('end', () => {
    ended = true;
    closeWhenDone();
  });
  socket.once('close', () => clearTimeout(timer));
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => {
    written = true;
    closeWhenDone();
    setTimeout(() => socket.destroy(), LINGER.idleMs).unref();
  });
}

type RequestListener = (request: Http2ServerRequest, response: Http2ServerResponse) => void;

/**
 * Puts a check of the method in front of Fastify's request listener: a method Fastify has no
 * routes for (only HTTP/2 lets one through) gets the problem an HTTP/1.1 request would.
 */
export function refuseUnknownMethods(app: FastifyInstance, options: ClientErrorOptions): void {
  const known = new Set(app.supportedMethods);
  const server = app.server as unknown as import('node:events').EventEmitter;
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (request: Http2ServerRequest, response: Http2ServerResponse) => {
    if (known.has(request.method)) {
      for (const listener of listeners) listener.call(server, request, response);
      return;
    }
    const problem = new ApiProblem('malformed-request', 'the request method is not one this server knows');
    rawProblem(app, problem, request.socket?.remoteAddress, options).then(
      ({ headers, body }) => {
        if (response.headersSent || response.destroyed) return;
        response.writeHead(problem.status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
        response.end(body);
      },
      (failure: unknown) => {
        app.log.error({ err: failure }, 'answering a request with an unknown method failed');
        response.destroy();
      },
    );
  });
}
