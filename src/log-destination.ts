// Where the JSON log lines go: stdout (or any file descriptor), written off the event loop in
// batches. pino's asynchronous destination (sonic-boom) hands each write to libuv's thread pool:
// written as they came, a line per hand-off under moderate load, each hand-off cost a wake-up of
// a pool thread, its write, and a wake-up of the event loop when it was done. An on-CPU profile
// (`npm run bench -- --perf`) put that at about 40 µs of an account page's 613 (bench/README.md,
// "Log lines written in batches"). Lines are now gathered until `minLength` bytes, or for
// `flushMs` at most, then written in one hand-off.
//
// Each line is handed over as bytes (sonic-boom's `contentMode: 'buffer'`), and a batch is a list
// of them, joined once when it is written. As text, sonic-boom appended each line to the batch's
// string and then measured that whole string's UTF-8 length (`Buffer.byteLength`), which copied
// the batch flat and scanned it: every line paid for all the lines gathered before it, up to 16 KB
// when a write was in flight. A sampling heap profile (`npm run bench -- --alloc`) put that at
// about 4 KB allocated per request (bench/README.md, "A log line's cost was its batch's").
import pino from 'pino';

export interface LogDestinationOptions {
  /** The file descriptor written to (1: stdout). */
  fd: number;
  /** Bytes gathered before a write. */
  minLength: number;
  /** The longest a line waits for the batch to fill, ms. */
  flushMs: number;
}

export type LogDestination = ReturnType<typeof pino.destination>;

/** A batching asynchronous destination for pino; `flush(callback)` writes what is gathered (at exit). */
export function batchedLogDestination(options: LogDestinationOptions): LogDestination {
  const destination = pino.destination({ dest: options.fd, sync: false, minLength: options.minLength, contentMode: 'buffer' });
  // Bytes handed to the destination and bytes it has written: a tick flushes only what is left
  // (a quiet process makes no empty writes), and again on the next tick when a write was still
  // in flight (a flush then does nothing, and what it left would wait for the next line).
  let queued = 0;
  let written = 0;
  // pino writes text; the destination takes bytes. (Its type says text in either mode.)
  const write = destination.write.bind(destination) as unknown as (bytes: Buffer) => boolean;
  destination.write = (line: string) => {
    const bytes = Buffer.from(line);
    queued += bytes.length;
    return write(bytes);
  };
  destination.on('write', (bytes: number) => (written += bytes));
  const timer = setInterval(() => {
    if (written < queued) destination.flush();
  }, options.flushMs);
  timer.unref();
  destination.on('close', () => clearInterval(timer));
  return destination;
}
