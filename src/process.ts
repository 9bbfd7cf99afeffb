// A process of Agora (src/main.ts: API and worker; src/worker.ts: the worker alone): load the
// config, boot (src/boot.ts), and own the signals and exit codes.
// SIGTERM, SIGINT and SIGHUP, sent to this process or to the `npm start` that runs it (npm
// forwards the first two; when npm itself goes away, we notice), all end in one graceful
// shutdown: stop accepting, let in-flight requests finish, then the jobs in progress (for half
// of SHUTDOWN_TIMEOUT_MS at most), all within SHUTDOWN_TIMEOUT_MS, then close the pool and the
// embedded database, and exit 0.
// A start that fails says why in one line on stderr, stops what it had started, and exits 1.
import { batchedLogDestination } from './log-destination.ts';
import { boot, type Booted, type BootOptions } from './boot.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loggerOptions } from './http/logger.ts';
import { takeOverSignals } from './persistence/embedded-postgres.ts';

/** Runs this process until a signal ends it, in the given roles (both by default). */
export async function runProcess(roles: BootOptions['roles'] = {}): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`agora: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }

  let server: Booted | undefined;
  let stopping = false;

  // The request log's JSON lines go to stdout asynchronously, off the event loop, gathered into
  // writes of 4 KB or every 200 ms (src/log-destination.ts). Written synchronously, one write per
  // line was a fifth of the CPU of a replayed request under load; written asynchronously one at a
  // time, each write's hand-off to libuv's threads cost about 40 µs of an account page. Pretty
  // output (a developer's terminal) keeps pino-pretty's own stream. Whatever is queued is written
  // before the process exits (`exit`).
  const logDestination = config.prettyLogs ? undefined : batchedLogDestination({ fd: 1, minLength: 4096, flushMs: 200 });
  /** Exits once the log lines queued so far are written (one second at most). */
  async function exit(code: number): Promise<never> {
    if (logDestination) {
      await new Promise<void>((done) => {
        const bound = setTimeout(done, 1000);
        bound.unref();
        logDestination.flush(() => {
          clearTimeout(bound);
          done();
        });
      });
    }
    process.exit(code);
  }

  async function shutdown(signal: string, exitCode = 0): Promise<void> {
    if (stopping) return;
    stopping = true;
    const log = server?.app.log;
    log?.info({ signal }, 'shutting down: no new connections; finishing the requests in flight');
    const force = setTimeout(() => {
      if (log) log.error(`shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      else console.error(`agora: shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting`);
      void exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    try {
      await booting.close();
    } catch (error) {
      log?.error({ err: error }, 'shutdown failed');
      exitCode = 1;
    }
    clearTimeout(force);
    log?.info('stopped');
    await exit(exitCode);
  }

  /** One line saying why the server could not start. */
  function startFailure(error: unknown): string {
    const e = error as Partial<NodeJS.ErrnoException & { address: string; port: number }> | undefined;
    if (e?.syscall === 'listen' && e.code === 'EADDRINUSE') {
      return `cannot listen on ${e.address}:${e.port}: the address is already in use (EADDRINUSE); is another server running there?`;
    }
    if (e?.syscall === 'listen') return `cannot listen on ${e.address}:${e.port}: ${e.message}`;
    const message = error instanceof Error ? error.message : String(error);
    return `cannot start: ${message.split('\n')[0]}`;
  }

  /** A start that fails: say why, stop what was started (the embedded database above all), exit 1. */
  async function failStart(error: unknown): Promise<void> {
    if (stopping) return; // a signal interrupted the start; its shutdown ends the process
    stopping = true;
    console.error(`agora: ${startFailure(error)}`);
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    // The server, when it exists, never listened: nothing is in flight.
    await booting.close().catch(() => {});
    await exit(1);
  }

  takeOverSignals(); // our shutdown stops the embedded database, after the requests in flight
  const booting = boot(config, {
    logger: loggerOptions({ level: config.logLevel, pretty: config.prettyLogs, ...(logDestination ? { stream: logDestination } : {}) }),
    roles,
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
  // Under `npm start`, npm is our parent (the script `exec`s node). npm forwards SIGTERM and SIGINT
  // to us, but dies of a SIGHUP (or a SIGKILL) without a word: then we are reparented, and stop.
  if ((process.env.npm_lifecycle_event === 'start' || process.env.npm_lifecycle_event === 'worker') && process.ppid > 1) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) void shutdown('parent exited');
    }, 250).unref();
  }
  // Whatever escaped every handler is logged once, with its stack, before the process goes down.
  process.on('uncaughtException', (error) => {
    if (!server) return void failStart(error);
    server.app.log.fatal({ err: error }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (reason) => {
    if (!server) return void failStart(reason);
    server.app.log.fatal({ err: reason }, 'unhandled promise rejection');
    void shutdown('unhandledRejection', 1);
  });

  try {
    server = await booting;
  } catch (error) {
    await failStart(error);
  }
}
