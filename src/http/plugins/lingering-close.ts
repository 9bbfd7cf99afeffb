// A response sent before the request's body has arrived (a 413 refuses a body as soon as it is
// known to be too large) that closes the connection must still reach a client that is sending.
// Node closes the socket as soon as the response is written; closing a socket with unread data
// makes the kernel send a reset instead of a FIN, and a reset makes the client's kernel drop
// the response it had received but not yet read: the client saw EPIPE or ECONNRESET instead of
// the 413. So such a socket closes like Apache's and nginx's "lingering close": the response is
// followed by a FIN, what the client still sends is read and discarded until its request ends,
// and only then is the socket closed; within bounds of bytes and time, so that a client cannot
// keep the server reading forever.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface LingerBounds {
  /** Bytes read and discarded at most after the response. */
  maxBytes: number;
  /** Time spent lingering at most. */
  maxMs: number;
  /** Time without any byte from the client after which it is taken to have stopped. */
  idleMs: number;
}

export const LINGER: LingerBounds = { maxBytes: 16 * 1024 * 1024, maxMs: 10_000, idleMs: 2_000 };

const CHECK_EVERY_MS = 50;

/**
 * Makes Node's close of `socket` after the response (its `destroySoon`) a lingering close until
 * `request` has been read to its end. Node reads and discards the rest of a request nobody
 * consumes (IncomingMessage#_dump) while the socket stays open.
 */
export function lingerBeforeClosing(request: IncomingMessage, socket: Socket, bounds: LingerBounds = LINGER): void {
  if (Object.hasOwn(socket, 'destroySoon')) return;
  socket.destroySoon = function lingeringDestroySoon() {
    delete (socket as Partial<Socket>).destroySoon; // the prototype's again
    if (request.complete || socket.destroyed) {
      socket.destroySoon();
      return;
    }
    socket.end(); // the response is complete: a FIN after it
    const started = Date.now();
    const firstRead = socket.bytesRead;
    let lastRead = firstRead;
    let lastChange = started;
    const close = () => {
      clearInterval(timer);
      request.off('end', close);
      socket.destroySoon();
    };
    const timer = setInterval(() => {
      const now = Date.now();
      const read = socket.bytesRead;
      if (read !== lastRead) {
        lastRead = read;
        lastChange = now;
      }
      if (read - firstRead > bounds.maxBytes || now - started > bounds.maxMs || now - lastChange > bounds.idleMs) close();
    }, CHECK_EVERY_MS);
    timer.unref();
    request.once('end', close);
    socket.once('close', () => {
      clearInterval(timer);
      request.off('end', close);
    });
  };
}

export const lingeringClose = fp(async (app: FastifyInstance) => {
  app.addHook('onSend', (request, reply, payload, done) => {
    const raw = request.raw;
    // HTTP/2 streams end on their own, without closing the connection.
    const closes = reply.getHeader('connection') === 'close' || !(reply.raw as { shouldKeepAlive?: boolean }).shouldKeepAlive;
    if (raw.httpVersionMajor === 1 && !raw.complete && closes && raw.socket) lingerBeforeClosing(raw, raw.socket);
    done(null, payload);
  });
});
