// HTTP/1.1 over a plain TCP socket, for what no HTTP client sends: unknown methods, oversized
// headers, a body streamed without regard to the response.
import { connect } from 'node:net';

export interface RawExchange {
  status: number;
  headers: Headers;
  body: string;
  /** The socket error the client saw, if any (after or instead of the response). */
  error: string | undefined;
}

export interface RawRequest {
  /** The request line and headers, without the blank line that ends them. */
  head: string;
  /** Bytes of body to send after the head (as fast as the socket takes them), in one or more chunks. */
  bodyBytes?: number;
  /** Send the body with chunked transfer coding instead of as many bytes as Content-Length says. */
  chunked?: boolean;
  /** Read nothing until the whole body is written, like a client that sends before it listens. */
  readAfterSending?: boolean;
  /** Gives up after this long. */
  timeoutMs?: number;
}

/** Sends one request on a fresh connection and reads until the server closes it. */
export function exchange(origin: string, request: RawRequest): Promise<RawExchange> {
  const { hostname, port } = new URL(origin);
  return new Promise((done, fail) => {
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    let error: string | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no end of the response within ${request.timeoutMs ?? 30_000} ms`));
    }, request.timeoutMs ?? 30_000);
    const read = () => socket.on('data', (chunk: Buffer) => received.push(chunk));
    if (!request.readAfterSending) read();
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return done({ status: 0, headers: new Headers(), body: text, error });
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers = new Headers();
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const length = Number(headers.get('content-length') ?? Number.NaN);
      const body = Buffer.from(text.slice(end + 4), 'utf8');
      done({ status: Number(statusLine!.split(' ')[1]), headers, body: (Number.isNaN(length) ? body : body.subarray(0, length)).toString('utf8'), error });
    });
    socket.write(`${request.head}\r\n\r\n`);
    const total = request.bodyBytes ?? 0;
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < total && !socket.destroyed) {
        const size = Math.min(chunk.length, total - sent);
        sent += size;
        const piece = request.chunked ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), chunk.subarray(0, size), Buffer.from('\r\n')]) : chunk.subarray(0, size);
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (request.chunked && !socket.destroyed) socket.write('0\r\n\r\n');
      if (request.readAfterSending) read();
    };
    if (total > 0) pump();
    else if (request.readAfterSending) read();
  });
}
