// A TCP proxy on 127.0.0.1 in front of the test database, to take the database away from a
// running server the way a network does: `blackhole()` cuts every connection and leaves new ones
// hanging unanswered, `restore()` forwards again.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let forwarding = true;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (!forwarding) return; // accepted, never answered
    const upstream = connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return {
    port: (server.address() as { port: number }).port,
    blackhole() {
      forwarding = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      forwarding = true;
      for (const socket of sockets) socket.destroy(); // the hanging ones
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}
