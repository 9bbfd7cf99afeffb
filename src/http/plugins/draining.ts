// During a graceful shutdown the listener is closed at once, so new connections are refused, and
// the requests in flight run to completion; their responses close their connections so that the
// server can finish closing. A request that still arrives on an open keep-alive connection is
// refused with a 503 problem (Fastify's own 503 is not one). Node closes idle keep-alive
// connections when the server closes, but not one that a client opened and has sent nothing on
// yet (HTTP clients keep spare ones): that would hold the close up until its keep-alive or
// headers timeout (over a minute), so those are closed at once.
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiProblem } from '../../handlers/index.ts';

export const draining = fp(async (app: FastifyInstance, options: { retryAfterSeconds: number }) => {
  let closing = false;
  /** HTTP/1 connections on which no request has arrived yet. */
  const unused = new Set<Socket>();
  const track = (socket: Socket) => {
    // An HTTP/2 session is closed by Fastify (with GOAWAY), its streams left to finish.
    if ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2') return;
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  };
  // Plain HTTP hands the TCP socket to 'connection'; TLS, the TLS socket to 'secureConnection'.
  // (Cleartext HTTP/2 speaks nothing else: its sessions are Fastify's to close.)
  const tls = Boolean(app.initialConfig.https);
  if (tls || !app.initialConfig.http2) {
    app.server.on(tls ? 'secureConnection' : 'connection', track);
    app.server.on('request', (request: { socket: Socket }) => unused.delete(request.socket));
  }
  app.addHook('preClose', async () => {
    closing = true;
    for (const socket of unused) socket.destroy();
    unused.clear();
  });
  // Callback hooks, not async ones: every request passes them, and a promise per hook is not free.
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!closing) return done();
    done(
      new ApiProblem('service-unavailable', 'the server is shutting down; retry on another connection', {
        headers: { 'retry-after': String(options.retryAfterSeconds) },
      }),
    );
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    // HTTP/2 has no such header: Fastify closes its sessions with GOAWAY.
    if (closing && request.raw.httpVersionMajor === 1) reply.header('connection', 'close');
    done(null, payload);
  });
});
