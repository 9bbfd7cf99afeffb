// A TCP proxy on 127.0.0.1 in front of the test database, to take the database away from a
// running server the way a network does: `blackhole()` cuts every connection and leaves new ones
// hanging unanswered, `restore()` forwards again. `stall()` freezes it the way a stopped
// (SIGSTOP) PostgreSQL does: connections stay open, new ones are accepted, nothing is answered
// until `resume()` delivers what was held, in order. `freeze(marker)` stalls only the open
// connections whose first bytes (PostgreSQL's start-up message, which names the
// application_name) contain `marker`, as a congested link or a wedged peer would; `thaw()` lets
// what they held through. `refuse(marker)` closes each new connection whose start-up bytes
// contain `marker`. The shared test PostgreSQL is never touched.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  blackhole(): void;
  restore(): void;
  /** Holds every byte, both ways, and every new connection, until `resume()`. */
  stall(): void;
  /**
   * Stalls (as `stall()`) when the server's side first sends bytes containing `text`: before
   * forwarding them (`'before'`, the database never sees them) or just after (`'after'`, it sees
   * them but its answer is held).
   */
  stallOn(text: string, when: 'before' | 'after'): Promise<void>;
  resume(): void;
  /** Stalls the open connections whose start-up bytes contain `marker`; returns how many are stalled. */
  freeze(marker: string): number;
  thaw(): void;
  /** From now on, closes each new connection whose start-up bytes contain `marker` (undefined: none), as a server refusing it would. */
  refuse(marker: string | undefined): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let forwarding = true;
  let stalled = false;
  const held: (() => void)[] = [];
  let trigger: { text: string; when: 'before' | 'after'; fire: () => void } | undefined;
  let refused: string | undefined;
  const sockets = new Set<Socket>();
  /** Each forwarded connection: its first bytes from the server's side, and what it holds while frozen. */
  type Link = { opening: string; frozen: boolean; held: (() => void)[] };
  const links = new Set<Link>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const forward = (link: Link, from: Socket, to: Socket, watch: boolean) => {
    from.on('data', (chunk: Buffer) => {
      if (watch && !link.opening) {
        link.opening = chunk.toString('latin1');
        if (refused !== undefined && link.opening.includes(refused)) {
          from.destroy();
          to.destroy();
          return;
        }
      }
      const send = () => void (to.destroyed || to.write(chunk));
      if (link.frozen) {
        link.held.push(send);
        return;
      }
      if (!stalled && watch && trigger && chunk.includes(trigger.text)) {
        const { when, fire } = trigger;
        trigger = undefined;
        if (when === 'after') send();
        stalled = true;
        fire();
        if (when === 'after') return;
      }
      if (stalled) held.push(send);
      else send();
    });
  };
  const open = (client: Socket) => {
    const upstream = connect(target.port, target.host);
    track(upstream);
    const link: Link = { opening: '', frozen: false, held: [] };
    links.add(link);
    forward(link, client, upstream, true);
    forward(link, upstream, client, false);
    client.on('close', () => (links.delete(link), upstream.destroy()));
    upstream.on('close', () => client.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (!forwarding) return; // accepted, never answered
    if (stalled) {
      client.pause(); // what it sends waits in the socket until resume() opens the way
      held.push(() => {
        if (client.destroyed) return;
        open(client);
        client.resume();
      });
      return;
    }
    open(client);
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
    stall() {
      stalled = true;
    },
    stallOn(text, when) {
      return new Promise((fire) => {
        trigger = { text, when, fire };
      });
    },
    resume() {
      stalled = false;
      for (const deliver of held.splice(0)) deliver();
    },
    freeze(marker) {
      for (const link of links) if (link.opening.includes(marker)) link.frozen = true;
      return [...links].filter((link) => link.frozen).length;
    },
    thaw() {
      for (const link of links) {
        if (!link.frozen) continue;
        link.frozen = false;
        for (const deliver of link.held.splice(0)) deliver();
      }
    },
    refuse(marker) {
      refused = marker;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}
