// The options of the server's pino logger: JSON lines in production, pino-pretty in development,
// and no credential in any line however a field got there.
import type { FastifyServerOptions } from 'fastify';

export interface LoggerSettings {
  level: string;
  pretty: boolean;
  /** Where lines go instead of stdout (the tests read them). */
  stream?: { write(line: string): void };
}

/**
 * Request bodies, headers and cookies are never logged by our own lines; these paths catch them
 * should anyone log a request, a reply or a body whole.
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
  '*.password',
  '*.token',
];

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
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
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
