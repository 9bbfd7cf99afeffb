// The environment, read and validated once at start-up. Nothing else reads process.env.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';

export interface Config {
  host: string;
  port: number;
  /** Undefined means: start an embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | undefined;
  /**
   * A direct connection to the primary, for what needs a session of its own (the LISTEN of the
   * cache invalidations, the live streams' wake-ups and slot locks, the job queue's wake-ups, the
   * migrations and their lock) when DATABASE_URL goes through a pooler in transaction mode
   * (PgBouncer); undefined: DATABASE_URL serves both.
   */
  databaseDirectUrl: string | undefined;
  dataDir: string;
  embeddedPostgresPort: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** pino-pretty output: a terminal outside production, or LOG_FORMAT=pretty. */
  prettyLogs: boolean;
  /** Where /metrics is served (0: a port the system picks); undefined when METRICS_PORT=off. */
  metricsPort: number | undefined;
  /** HTTP/2: over TLS with HTTP/1.1 fallback (ALPN) when `tls` is set, cleartext h2c otherwise. */
  http2: boolean;
  tls: { cert: Buffer; key: Buffer } | undefined;
  databaseConnectTimeoutMs: number;
  /**
   * The longest a statement waits for its answer: past it, its connection is closed and the
   * request answered 503 (even when the database is frozen and answers nothing).
   */
  databaseQueryTimeoutMs: number;
  /**
   * Whether the stores' statements are prepared under names, which PostgreSQL plans once per
   * connection (DATABASE_NAMED_STATEMENTS): `auto` when the database says the connection is direct,
   * not through a pooler (src/persistence/statement-names.ts).
   */
  databaseNamedStatements: (typeof NAMED_STATEMENTS)[number];
  shutdownTimeoutMs: number;
  jobs: {
    /** This instance runs the job consumers and schedules (WORKER=on, the default). */
    worker: boolean;
    /**
     * The job queue's own connections (pg-boss's pool); undefined (JOBS_POOL_MAX unset): as many as
     * its consumers need (`jobPoolSize`).
     */
    poolMax: number | undefined;
    /** How often an idle worker asks for jobs. */
    pollIntervalMs: number;
    /** Batches of notification jobs a worker runs at once, each in a transaction of its own (NOTIFICATION_JOBS_CONCURRENCY). */
    notificationConcurrency: number;
    /**
     * Notification jobs each of those fetches at once, and runs in one transaction, each job in a
     * savepoint of its own (NOTIFICATION_JOBS_BATCH_SIZE).
     */
    notificationBatchSize: number;
    /**
     * A worker's fetches of notification jobs are spaced at least this many milliseconds apart
     * while they keep coming, so that those that arrive meanwhile run in one batch, and a
     * batch's messages in one statement (NOTIFICATION_JOBS_GATHER_MS; 0: each fetched at once).
     */
    notificationGatherMs: number;
  };
  pressure: {
    /** 0 turns a check off. */
    maxEventLoopDelayMs: number;
    maxHeapUsedBytes: number;
    maxRssBytes: number;
    healthCheckIntervalMs: number;
    retryAfterSeconds: number;
  };
  bodyLimitBytes: number;
  corsOrigins: string[];
  trustProxy: boolean;
  maxPage: number;
  /**
   * The most entries each in-process cache (sessions, account summaries, channels) holds; 0 turns
   * caching off. Entries are invalidated across instances by PostgreSQL notifications.
   */
  cacheMaxEntries: number;
  /**
   * The longest a change made on another instance (or in the database by hand) can go unseen by
   * this instance's caches: past it, they are bypassed until its invalidations have caught up.
   */
  cacheMaxStalenessMs: number;
  /** Posts (the posts domain). */
  posts: {
    /** POST_CACHE_MB: what the posts this instance keeps in memory for GET /posts/{id} may weigh, in MiB; 0: none. */
    cacheMb: number;
    /** CHANNEL_PAGE_CACHE_MB: what the pages of channels' posts this instance keeps in memory may weigh, in MiB; 0: none. */
    channelPageCacheMb: number;
  };
  /** The social graph (the social domain). */
  social: {
    /** FRIENDSHIP_CACHE_ENTRIES: pairs of accounts whose friendship (or none) this instance keeps in memory (bounded by CACHE_MAX_ENTRIES too); 0: none. */
    friendshipCacheEntries: number;
  };
  /** Direct messages (the messages domain). */
  messages: {
    /** PARTICIPANT_CACHE_ENTRIES: conversations whose participants this instance keeps in memory (bounded by CACHE_MAX_ENTRIES too); 0: none. */
    participantCacheEntries: number;
  };
  /** Channels (the channels domain). */
  channels: {
    /** CHANNEL_CACHE_MB: what the channels this instance keeps in memory may weigh, in MiB; 0: none. */
    cacheMb: number;
  };
  /** Home timelines (the timelines domain; README, "Home timelines"). */
  timelines: {
    length: number;
    wideFriends: number;
    fanOutIntervalMs: number;
    freshMs: number;
    /** TIMELINE_CACHE_PAGES: feed pages this instance keeps in memory (bounded by CACHE_MAX_ENTRIES too); 0: none. */
    cachePages: number;
    /** TIMELINE_CACHE_MB: what those pages may weigh, in MiB; 0: none. */
    cacheMb: number;
  };
  session: {
    idleTtlSeconds: number;
    absoluteTtlSeconds: number;
  };
  rateLimit: {
    /**
     * The Redis server every instance counts its rate limits in (one budget across instances);
     * undefined: each instance counts alone, in memory.
     */
    redisUrl: string | undefined;
    perMinute: number;
    signInPerAddressPerMinute: number;
    signInPerAccountPer15Minutes: number;
    signUpPerAddressPerHour: number;
  };
  stream: {
    /** The most live streams (GET /v1/stream) one account may hold open at once, across instances. */
    maxPerAccount: number;
    /** How often an idle stream gets a heartbeat comment. */
    heartbeatSeconds: number;
    /** The most bytes a stream may have waiting for a client that does not read, before it is dropped. */
    maxBufferedBytes: number;
  };
  /** Domains served by processes of their own (README, "A domain in a server of its own"). */
  remote: {
    /** SERVE_DOMAINS: this process is a domain server for these domains (their internal API only). */
    serveDomains: string[];
    /** `<DOMAIN>_SERVICE_URL`, by domain name: these domains are used through a stub calling that server. */
    serviceUrls: Record<string, string>;
    /** INTERNAL_API_TOKEN: the shared secret of the internal API; without it, domain servers answer loopback callers only. */
    token: string | undefined;
    /** REMOTE_CALL_TIMEOUT_MS: the deadline of one call to a domain server, answer included. */
    callTimeoutMs: number;
  };
  idempotency: {
    /** How long a finished request's key and response are kept for replay. */
    ttlSeconds: number;
    /** The longest a request whose process died can keep its key busy. */
    lockSeconds: number;
    /** IDEMPOTENCY_CACHE_ENTRIES: finished requests this instance keeps in memory for their retries; 0: none. */
    cacheEntries: number;
    /** IDEMPOTENCY_CACHE_MB: what those may weigh, in MiB; 0: none. */
    cacheMb: number;
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

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  return raw === 'true';
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'on' && raw !== 'off') throw new ConfigError(`${name} must be on or off, got "${raw}"`);
  return raw === 'on';
}

function pemFile(env: Env, name: string): Buffer | undefined {
  const path = env[name];
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** 90 % of what this process may use: V8's heap limit, and the container's (or machine's) memory. */
function memoryDefaults() {
  const constrained = process.constrainedMemory();
  const machine = totalmem();
  const limit = constrained > 0 && constrained < machine ? constrained : machine;
  return {
    heap: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
    rss: Math.floor(limit * 0.9),
  };
}

function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

// `<DOMAIN>_SERVICE_URL`, one per domain served apart, e.g. SOCIAL_SERVICE_URL=http://social:3000.
const SERVICE_URL = /^([A-Z][A-Z0-9]*)_SERVICE_URL$/;

function remoteSettings(env: Env): Config['remote'] {
  const serveDomains = (env.SERVE_DOMAINS ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of serveDomains) {
    if (!/^[a-z][a-z0-9]*$/.test(name)) throw new ConfigError(`SERVE_DOMAINS must be a comma-separated list of domain names, e.g. social; got "${name}"`);
  }
  const serviceUrls: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const match = SERVICE_URL.exec(key);
    if (!match || value === undefined || value === '') continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${key} must be an http:// or https:// URL, e.g. http://127.0.0.1:3001`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
      throw new ConfigError(`${key} must be an http:// or https:// URL without credentials, query or fragment, e.g. http://127.0.0.1:3001`);
    }
    const name = match[1]!.toLowerCase();
    if (serveDomains.includes(name)) throw new ConfigError(`${key} and SERVE_DOMAINS=${name}: a process cannot both serve the ${name} domain and call it elsewhere`);
    serviceUrls[name] = value;
  }
  // Without a token, a domain server answers callers on its own machine only (loopback).
  const token = env.INTERNAL_API_TOKEN || undefined;
  if (token !== undefined && token.length < 16) {
    throw new ConfigError('INTERNAL_API_TOKEN must be at least 16 characters (the same on every process): it protects the internal API');
  }
  return { serveDomains, serviceUrls, token, callTimeoutMs: integer(env, 'REMOTE_CALL_TIMEOUT_MS', 2000, 50, 600_000) };
}

const NAMED_STATEMENTS = ['auto', 'on', 'off'] as const;

function namedStatements(raw: string | undefined): Config['databaseNamedStatements'] {
  const value = raw || 'auto';
  if (!(NAMED_STATEMENTS as readonly string[]).includes(value)) {
    throw new ConfigError(`DATABASE_NAMED_STATEMENTS must be one of ${NAMED_STATEMENTS.join(', ')}, got "${raw}"`);
  }
  return value as Config['databaseNamedStatements'];
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
  const databaseDirectUrl = env.DATABASE_DIRECT_URL || undefined;
  if (databaseDirectUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(databaseDirectUrl)) throw new ConfigError('DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL');
    if (databaseUrl === undefined) throw new ConfigError('DATABASE_DIRECT_URL needs DATABASE_URL (the embedded PostgreSQL has no pooler in front)');
  }
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl !== undefined && !isRedisUrl(redisUrl)) {
    // Not echoed: the URL may carry a password.
    throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');
  }
  const idle = integer(env, 'SESSION_IDLE_TTL_SECONDS', 7 * 24 * 3600, 60, 365 * 24 * 3600);
  const absolute = integer(env, 'SESSION_ABSOLUTE_TTL_SECONDS', 30 * 24 * 3600, 60, 365 * 24 * 3600);
  if (idle > absolute) throw new ConfigError('SESSION_IDLE_TTL_SECONDS cannot exceed SESSION_ABSOLUTE_TTL_SECONDS');
  const cert = pemFile(env, 'TLS_CERT');
  const key = pemFile(env, 'TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('TLS_CERT and TLS_KEY must be set together');
  const tls = cert && key ? { cert, key } : undefined;
  const logFormat = env.LOG_FORMAT || (process.stdout.isTTY && env.NODE_ENV !== 'production' ? 'pretty' : 'json');
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${logFormat}"`);
  const metricsPort = env.METRICS_PORT === 'off' ? undefined : integer(env, 'METRICS_PORT', 9464, 0, 65535);
  const memory = memoryDefaults();
  return {
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65535),
    databaseUrl,
    databaseDirectUrl,
    dataDir: resolve(env.DATA_DIR || '.data'),
    embeddedPostgresPort: integer(env, 'EMBEDDED_PG_PORT', 54329, 1024, 65535),
    logLevel,
    prettyLogs: logFormat === 'pretty',
    metricsPort,
    http2: flag(env, 'HTTP2', tls !== undefined),
    tls,
    databaseConnectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
    databaseQueryTimeoutMs: integer(env, 'DATABASE_QUERY_TIMEOUT_MS', 5000, 100, 600_000),
    databaseNamedStatements: namedStatements(env.DATABASE_NAMED_STATEMENTS),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 3_600_000),
    jobs: {
      worker: onOff(env, 'WORKER', true),
      // Unset: sized by the job queue for the consumers it runs (src/jobs/queue.ts, jobPoolSize).
      poolMax: env.JOBS_POOL_MAX === undefined || env.JOBS_POOL_MAX === '' ? undefined : integer(env, 'JOBS_POOL_MAX', 4, 2, 100),
      pollIntervalMs: integer(env, 'JOBS_POLL_INTERVAL_MS', 2000, 500, 600_000),
      // One batch at a time, of up to 32 jobs, fetched at least 100 ms apart under a stream of
      // messages: under send-message's load that cost a message's worker about 0.6 × the CPU of
      // two batches of up to 16 fetched 25 ms apart, for a notification written about 55 ms after
      // its message at p50 (about 22 before); a backlog drains as fast (bench/README.md).
      notificationConcurrency: integer(env, 'NOTIFICATION_JOBS_CONCURRENCY', 1, 1, 16),
      // At most 32: each job of a batch writes in a subtransaction of its own, and PostgreSQL
      // keeps 64 of a transaction's subtransactions in shared memory before every other
      // session's snapshots must look them up on disk.
      notificationBatchSize: integer(env, 'NOTIFICATION_JOBS_BATCH_SIZE', 32, 1, 32),
      notificationGatherMs: integer(env, 'NOTIFICATION_JOBS_GATHER_MS', 100, 0, 1000),
    },
    pressure: {
      maxEventLoopDelayMs: integer(env, 'MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
      maxHeapUsedBytes: integer(env, 'MAX_HEAP_USED_BYTES', memory.heap, 0, Number.MAX_SAFE_INTEGER),
      maxRssBytes: integer(env, 'MAX_RSS_BYTES', memory.rss, 0, Number.MAX_SAFE_INTEGER),
      healthCheckIntervalMs: integer(env, 'HEALTH_CHECK_INTERVAL_MS', 5000, 100, 600_000),
      retryAfterSeconds: integer(env, 'RETRY_AFTER_SECONDS', 10, 1, 86_400),
    },
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    trustProxy: env.TRUST_PROXY === 'true',
    maxPage: integer(env, 'MAX_PAGE', 50, 1, 10000),
    cacheMaxEntries: integer(env, 'CACHE_MAX_ENTRIES', 50_000, 0, 10_000_000),
    cacheMaxStalenessMs: integer(env, 'CACHE_MAX_STALENESS_MS', 1000, 100, 600_000),
    posts: {
      cacheMb: integer(env, 'POST_CACHE_MB', 8, 0, 4096),
      channelPageCacheMb: integer(env, 'CHANNEL_PAGE_CACHE_MB', 4, 0, 4096),
    },
    social: {
      friendshipCacheEntries: integer(env, 'FRIENDSHIP_CACHE_ENTRIES', 10_000, 0, 10_000_000),
    },
    messages: {
      participantCacheEntries: integer(env, 'PARTICIPANT_CACHE_ENTRIES', 10_000, 0, 10_000_000),
    },
    channels: {
      cacheMb: integer(env, 'CHANNEL_CACHE_MB', 4, 0, 4096),
    },
    timelines: {
      length: integer(env, 'TIMELINE_LENGTH', 400, 1, 100_000),
      wideFriends: integer(env, 'TIMELINE_WIDE_FRIENDS', 2000, 1, 10_000_000),
      fanOutIntervalMs: integer(env, 'TIMELINE_FANOUT_INTERVAL_MS', 100, 10, 60_000),
      freshMs: integer(env, 'TIMELINE_FRESH_MS', 5000, 100, 600_000),
      cachePages: integer(env, 'TIMELINE_CACHE_PAGES', 1000, 0, 1_000_000),
      cacheMb: integer(env, 'TIMELINE_CACHE_MB', 12, 0, 4096),
    },
    session: { idleTtlSeconds: idle, absoluteTtlSeconds: absolute },
    rateLimit: {
      redisUrl,
      perMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
      signInPerAddressPerMinute: integer(env, 'SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE', 20, 1, 1_000_000),
      signInPerAccountPer15Minutes: integer(env, 'SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES', 10, 1, 1_000_000),
      signUpPerAddressPerHour: integer(env, 'SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR', 20, 1, 1_000_000),
    },
    stream: {
      maxPerAccount: integer(env, 'STREAM_MAX_PER_ACCOUNT', 5, 1, 1000),
      heartbeatSeconds: integer(env, 'STREAM_HEARTBEAT_SECONDS', 15, 1, 3600),
      maxBufferedBytes: integer(env, 'STREAM_MAX_BUFFERED_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    },
    remote: remoteSettings(env),
    idempotency: {
      ttlSeconds: integer(env, 'IDEMPOTENCY_TTL_SECONDS', 24 * 3600, 60, 30 * 24 * 3600),
      lockSeconds: integer(env, 'IDEMPOTENCY_LOCK_SECONDS', 30, 1, 3600),
      cacheEntries: integer(env, 'IDEMPOTENCY_CACHE_ENTRIES', 2000, 0, 1_000_000),
      cacheMb: integer(env, 'IDEMPOTENCY_CACHE_MB', 4, 0, 4096),
    },
  };
}
