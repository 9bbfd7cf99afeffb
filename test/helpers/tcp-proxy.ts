// A TCP proxy on 127.0.0.1 in front of the test database, to take the database away from a
// running server the way a network does: `blackhole()` cuts every connection and leaves new ones
// hanging unanswered, `restore()` forwards again. `stall(marker)` freezes, without closing them,
// the connections whose first bytes (PostgreSQL's start-up message, which names the
// application_name) contain `marker`: as a congested link or a wedged peer would; `unstall()`
// lets what they held through.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  blackhole(): void;
  restore(): void;
  stall(marker: string): number;
  unstall(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let forwarding = true;
  const sockets = new Set<Socket>();
  const links = new Set<{ client: Socket; upstream: Socket; opening: string }>();
  const stalled = new Set<{ client: Socket; upstream: Socket }>();
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
    const link = { client, upstream, opening: '' };
    links.add(link);
    client.once('data', (chunk: Buffer) => (link.opening = chunk.toString('latin1')));
    client.pipe(upstream).pipe(client);
    client.on('close', () => (links.delete(link), stalled.delete(link), upstream.destroy()));
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return {
    port: (server.address() as { port: number }).port,
    blackhole() {
      forwarding = false;
      for (const socket of sockets) socket.destroy();
    },
    stall(marker) {
      for (const link of links) {
        if (!link.opening.includes(marker) || stalled.has(link)) continue;
        link.client.unpipe(link.upstream);
        link.upstream.unpipe(link.client);
        link.client.pause();
        link.upstream.pause();
        stalled.add(link);
      }
      return stalled.size;
    },
    unstall() {
      for (const link of stalled) {
        link.client.pipe(link.upstream);
        link.upstream.pipe(link.client);
      }
      stalled.clear();
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
