// The logging interface that services and persistence receive (pino's, which Fastify's logger
// is), so that they can log what they catch without knowing about Fastify or pino.
export interface Log {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** For callers that have nowhere to log (scripts, the schema check). */
export const silentLog: Log = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

export interface DeferredLog extends Log {
  /** From now on, lines go to `target`. */
  attach(target: Log): void;
}

/**
 * A log for what starts before the server's logger exists (the database, the services): lines
 * go to stderr until `attach` hands it the real logger.
 */
export function deferredLog(): DeferredLog {
  let target: Log | undefined;
  const early = (level: string) => (fields: object, message: string) => {
    const err = (fields as { err?: unknown }).err;
    console.error(`agora ${level}: ${message}${err instanceof Error ? ` (${err.message})` : ''}`);
  };
  const line = (level: keyof Log) => (fields: object, message: string) =>
    target ? target[level](fields, message) : early(level)(fields, message);
  return {
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: (fields, message) => target?.debug(fields, message),
    attach(to) {
      target = to;
    },
  };
}
