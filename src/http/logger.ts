// The options of the server's pino logger: JSON lines in production, pino-pretty in development,
// and no credential in any line however a field got there.
import type { FastifyServerOptions } from 'fastify';

export interface LoggerSettings {
  level: string;
  pretty: boolean;
  /** Where lines go instead of stdout (the tests read them). */
  stream?: { write(line: string): void };
}

const CENSOR = '[redacted]';

/**
 * Request bodies, headers and cookies are never logged by our own lines; these paths catch them
 * should anyone log a request, a reply or a body whole. Each starts at a fixed top-level key, so
 * pino runs its redaction only on lines that carry one of those keys.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'body',
  'req.body',
  'password',
  'token',
];

/**
 * Fields censored one level down under any key of a line (`{ input: { password } }`). Not given
 * to pino as `*.password`: pino runs a wildcard path's redaction on every field of every line,
 * which cost a tenth of all the memory a request allocated (bench/README.md). This looks at each
 * field once and copies only what it censors. A child logger's bindings get the paths above
 * (a top-level `token` binding is censored), not this.
 */
const NESTED_SECRETS = ['password', 'token'] as const;

export function censorNestedSecrets<T extends object>(object: T): T {
  const fields = object as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in fields) {
    const value = fields[key];
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    let censored: Record<string, unknown> | undefined;
    for (const secret of NESTED_SECRETS) {
      if (!Object.hasOwn(value, secret)) continue;
      // A copy with the same prototype and every own property (an Error keeps its message and stack).
      censored ??= Object.create(Object.getPrototypeOf(value), Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
      if (value instanceof Error) Object.defineProperty(censored, 'stack', { value: value.stack, writable: true, configurable: true });
      Object.defineProperty(censored, secret, { value: CENSOR, enumerable: true, writable: true, configurable: true });
    }
    if (censored) (copy ??= { ...fields })[key] = censored;
  }
  return (copy ?? object) as T;
}

function prettyAvailable(): boolean {
  try {
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false; // a production install without devDependencies
  }
}

export function loggerOptions(settings: LoggerSettings): FastifyServerOptions['logger'] {
  return {
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    formatters: { log: censorNestedSecrets },
    ...(settings.stream ? { stream: settings.stream } : {}),
    ...(!settings.stream && settings.pretty && prettyAvailable()
      ? {
          transport: {
            target: 'pino-pretty',
            options: {
              translateTime: 'SYS:HH:MM:ss.l',
              ignore: 'pid,hostname',
              // Request lines read as `request completed GET /v1/accounts 200 3.2 ms`.
              messageFormat: '{msg}{if method} {method} {path} {status} {latencyMs} ms{end}',
            },
          },
        }
      : {}),
  };
}
