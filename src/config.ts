// The environment, read and validated once at start-up. Nothing else reads process.env.
import { resolve } from 'node:path';

export interface Config {
  host: string;
  port: number;
  /** Undefined means: start an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPostgresPort: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  bodyLimitBytes: number;
  corsOrigins: string[];
  trustProxy: boolean;
  maxPage: number;
  session: {
    idleTtlSeconds: number;
    absoluteTtlSeconds: number;
  };
  rateLimit: {
    perMinute: number;
    signInPerAddressPerMinute: number;
    signInPerAccountPer15Minutes: number;
  };
  idempotency: {
    /** How long a finished request's key and response are kept for replay. */
    ttlSeconds: number;
    /** The longest a request whose process died can keep its key busy. */
    lockSeconds: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const logLevel = (env.LOG_LEVEL ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const idle = integer(env, 'SESSION_IDLE_TTL_SECONDS', 7 * 24 * 3600, 60, 365 * 24 * 3600);
  const absolute = integer(env, 'SESSION_ABSOLUTE_TTL_SECONDS', 30 * 24 * 3600, 60, 365 * 24 * 3600);
  if (idle > absolute) throw new ConfigError('SESSION_IDLE_TTL_SECONDS cannot exceed SESSION_ABSOLUTE_TTL_SECONDS');
  return {
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65535),
    databaseUrl,
    dataDir: resolve(env.DATA_DIR || '.data'),
    embeddedPostgresPort: integer(env, 'EMBEDDED_PG_PORT', 54329, 1024, 65535),
    logLevel,
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    trustProxy: env.TRUST_PROXY === 'true',
    maxPage: integer(env, 'MAX_PAGE', 50, 1, 10000),
    session: { idleTtlSeconds: idle, absoluteTtlSeconds: absolute },
    rateLimit: {
      perMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
      signInPerAddressPerMinute: integer(env, 'SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE', 20, 1, 1_000_000),
      signInPerAccountPer15Minutes: integer(env, 'SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES', 10, 1, 1_000_000),
    },
    idempotency: {
      ttlSeconds: integer(env, 'IDEMPOTENCY_TTL_SECONDS', 24 * 3600, 60, 30 * 24 * 3600),
      lockSeconds: integer(env, 'IDEMPOTENCY_LOCK_SECONDS', 30, 1, 3600),
    },
  };
}
