// The server's Prometheus metrics (prom-client), in one registry per server. Plain callbacks feed
// it: the HTTP layer records requests, the database layer reports queries through `onQuery`, and
// nothing here knows about Fastify or the ORM. Label values are bounded: operation ids, route
// templates, status classes, statement kinds; never raw URLs or ids.
import { getHeapStatistics } from 'node:v8';
import { CounterCells, HistogramCells, type CounterCell, type HistogramCell } from './cells.ts';
import { createStreamMetrics } from './stream-metrics.ts';
import { createTimelinesMetrics } from './timelines-metrics.ts';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** From 1 ms to 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** What the connection pool reports about itself. */
/** A job queue's backlog, as the queue reports it at scrape time. */
export interface JobBacklog {
  queue: string;
  depth: number;
  active: number;
  oldestAgeSeconds: number;
}

export interface PoolUsage {
  max: number;
  total: number;
  idle: number;
  waiting: number;
}

/** SQL statement kinds, the `operation` label of the database metrics. */
export const STATEMENT_KINDS = ['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback', 'savepoint', 'ddl', 'other'] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

const KIND_OF_KEYWORD: Record<string, StatementKind> = {
  select: 'select',
  insert: 'insert',
  update: 'update',
  delete: 'delete',
  begin: 'begin',
  'start': 'begin',
  commit: 'commit',
  rollback: 'rollback',
  savepoint: 'savepoint',
  release: 'savepoint',
  create: 'ddl',
  alter: 'ddl',
  drop: 'ddl',
};

export function statementKind(sql: string): StatementKind {
  const keyword = /^\s*(?:\/\*.*?\*\/\s*)?([a-z]+)/is.exec(sql)?.[1]?.toLowerCase() ?? '';
  return KIND_OF_KEYWORD[keyword] ?? 'other';
}

/** `2xx` for 204: one of STATUS_CLASSES (the same string each time, a metric cell's key), or `other`. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? STATUS_CLASSES[Math.floor(status / 100) - 1]! : 'other';
}

export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];
  // The process: CPU, resident and heap memory, event-loop lag, GC, handles.
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'agora_memory_available_bytes',
    help: 'Memory still available to the process (the container limit or free system memory).',
    registers,
    collect() {
      this.set(process.availableMemory());
    },
  });
  new Gauge({
    name: 'agora_memory_heap_limit_bytes',
    help: "V8's heap size limit: heap use beyond it crashes the process.",
    registers,
    collect() {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });

  // Calls to domains served by other processes (src/remote/client.ts), and those this process
  // answers as a domain server (src/remote/server.ts).
  const outboundRequests = new CounterCells({
    name: 'agora_outbound_requests_total',
    help: 'Calls to a domain served by another server, by target domain, operation and outcome (ok, rejected: a 4xx domain error, error: a 5xx, unavailable: refused or reset, timeout: past the deadline).',
    labelNames: ['target', 'operation', 'outcome'] as const,
    registers,
  });
  const outboundDuration = new HistogramCells({
    name: 'agora_outbound_request_duration_seconds',
    help: 'Time from sending a call to a domain server to having its whole answer (or giving up), by target and operation.',
    labelNames: ['target', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const outboundUp = new Gauge({
    name: 'agora_outbound_target_up',
    help: 'Whether the last call to a domain server reached it (1), by target; while 0 its operations answer 503.',
    labelNames: ['target'] as const,
    registers,
  });
  const internalRequests = new CounterCells({
    name: 'agora_internal_requests_total',
    help: 'Calls this domain server answered on its internal API, by domain, operation and status class.',
    labelNames: ['target', 'operation', 'status_class'] as const,
    registers,
  });
  const internalDuration = new HistogramCells({
    name: 'agora_internal_request_duration_seconds',
    help: 'Time this domain server took to answer a call, by domain and operation.',
    labelNames: ['target', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  // Counted on the request path, read at each scrape.
  let inFlight = 0;
  new Gauge({
    name: 'agora_http_requests_in_flight',
    help: 'Requests being processed now.',
    registers,
    collect() {
      this.set(inFlight);
    },
  });

  const http = {
    requests: new CounterCells({
      name: 'agora_http_requests_total',
      help: 'Requests answered (or aborted by the client, status_class="aborted"), by operation, method and status class.',
      labelNames: ['operation', 'method', 'status_class'] as const,
      registers,
    }),
    duration: new HistogramCells({
      name: 'agora_http_request_duration_seconds',
      help: 'Time from the request arriving to the response being sent, by operation.',
      labelNames: ['operation'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    errorResponses: new Counter({
      name: 'agora_http_error_responses_total',
      help: 'Problem responses (4xx and 5xx), by operation, status and problem type.',
      labelNames: ['operation', 'status', 'type'] as const,
      registers,
    }),
    unexpectedErrors: new Counter({
      name: 'agora_http_unexpected_errors_total',
      help: 'Exceptions that no layer expected (answered 500 and logged with their stack), by operation.',
      labelNames: ['operation'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'agora_http_rate_limited_total',
      help: 'Requests refused with 429 by a rate limit, by operation.',
      labelNames: ['operation'] as const,
      registers,
    }),
    loadShed: new Counter({
      name: 'agora_http_load_shed_total',
      help: 'Requests refused with 503 because the server was saturated or the database unavailable (reason="databaseUnavailable"), by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    idempotentReplays: new CounterCells({
      name: 'agora_idempotent_replays_total',
      help: 'Responses replayed from a stored idempotency key (sent with Idempotent-Replayed: true), by operation.',
      labelNames: ['operation'] as const,
      registers,
    }),
  };

  // @fastify/under-pressure's reasons, and a database outage's; started at zero so that
  // increase() sees the first refusal.
  for (const reason of ['eventLoopDelay', 'eventLoopUtilization', 'heapUsedBytes', 'rssBytes', 'databaseUnavailable']) http.loadShed.inc({ reason }, 0);

  const queries = new CounterCells({
    name: 'agora_db_queries_total',
    help: 'SQL statements run, by kind and outcome (error includes failures the caller handles, such as unique violations).',
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  const queryDuration = new HistogramCells({
    name: 'agora_db_query_duration_seconds',
    help: 'Time a SQL statement took, waiting for a connection included, by kind.',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  // Each kind's cells, bound once: a statement is counted with two additions.
  const statements = {} as Record<StatementKind, { ok: CounterCell; error: CounterCell; duration: HistogramCell }>;
  for (const operation of STATEMENT_KINDS) {
    statements[operation] = { ok: queries.cell(operation, 'ok'), error: queries.cell(operation, 'error'), duration: queryDuration.cell(operation) };
  }
  const databaseUp = new Gauge({
    name: 'agora_db_up',
    help: 'Whether the database is available (1) or in an outage (0), during which requests are refused with 503.',
    registers,
  });

  let clockOffsetMs: () => number | undefined = () => undefined;
  new Gauge({
    name: 'agora_db_clock_offset_seconds',
    help: "How far the database's clock is ahead of this instance's (negative: behind), as the cache invalidation listener's probes last measured it (0 until the first).",
    collect() {
      this.set((clockOffsetMs() ?? 0) / 1000);
    },
    registers,
  });

  const cacheLookups = new CounterCells({
    name: 'agora_cache_lookups_total',
    help: 'Lookups in the in-process caches, by cache (each cache this instance has) and outcome (hit; miss; bypassed: not looked at, because the instance could not show that what the cache holds is current).',
    labelNames: ['cache', 'outcome'] as const,
    registers,
  });
  // What each cache holds, read from the caches at every scrape (`watch`, below).
  const caches = new Map<string, () => { entries: number; weight: number | undefined }>();
  new Gauge({
    name: 'agora_cache_entries',
    help: 'Entries each in-process cache holds now, by cache.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      this.reset();
      for (const [cache, contents] of caches) this.set({ cache }, contents().entries);
    },
  });
  new Gauge({
    name: 'agora_cache_weight_bytes',
    help: 'What the entries of the caches bounded by weight (POST_CACHE_MB, CHANNEL_PAGE_CACHE_MB, TIMELINE_CACHE_MB, CHANNEL_CACHE_MB, IDEMPOTENCY_CACHE_MB) weigh now, estimated from above in bytes, by cache.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      this.reset();
      for (const [cache, contents] of caches) {
        const { weight } = contents();
        if (weight !== undefined) this.set({ cache }, weight);
      }
    },
  });
  const invalidationsUp = new Gauge({
    name: 'agora_cache_invalidation_listener_up',
    help: 'Whether the connection that receives cache invalidations is up (1); while it is down (0), caches are bypassed.',
    registers,
  });

  let invalidationLag: () => number | undefined = () => undefined;
  new Gauge({
    name: 'agora_cache_invalidation_lag_seconds',
    help: 'Seconds since the latest moment up to which every cache invalidation is known to have been applied on this instance; past CACHE_MAX_STALENESS_MS, caches are bypassed.',
    registers,
    collect() {
      const lag = invalidationLag();
      if (lag !== undefined) this.set(lag);
    },
  });
  const maxStaleness = new Gauge({
    name: 'agora_cache_max_staleness_seconds',
    help: 'CACHE_MAX_STALENESS_MS in seconds: the invalidation lag past which caches are bypassed.',
    registers,
  });

  let pool: () => PoolUsage | undefined = () => undefined;
  new Gauge({
    name: 'agora_db_pool_connections',
    help: 'Connections of the database pool, by state (in_use, idle).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const usage = pool();
      if (!usage) return;
      this.set({ state: 'in_use' }, usage.total - usage.idle);
      this.set({ state: 'idle' }, usage.idle);
    },
  });
  new Gauge({
    name: 'agora_db_pool_max_connections',
    help: 'The most connections the database pool opens.',
    registers,
    collect() {
      const usage = pool();
      if (usage) this.set(usage.max);
    },
  });
  new Gauge({
    name: 'agora_db_pool_waiting_queries',
    help: 'Queries waiting for a free connection of the pool.',
    registers,
    collect() {
      const usage = pool();
      if (usage) this.set(usage.waiting);
    },
  });

  const jobsCompleted = new Counter({
    name: 'agora_jobs_completed_total',
    help: 'Job attempts that completed, by queue.',
    labelNames: ['queue'] as const,
    registers,
  });
  const jobsFailed = new Counter({
    name: 'agora_jobs_failed_total',
    help: "Job attempts that failed (the job is retried with backoff, or dead-lettered after its queue's last retry), by queue.",
    labelNames: ['queue'] as const,
    registers,
  });
  const jobsRetried = new Counter({
    name: 'agora_jobs_retried_total',
    help: 'Job attempts that repeated an earlier one (failed, or cut short by a worker that died or stopped), by queue.',
    labelNames: ['queue'] as const,
    registers,
  });
  // Read from the database once per scrape, for the three gauges below.
  let backlog: () => Promise<JobBacklog[]> = async () => [];
  let latest: Promise<JobBacklog[]> | undefined;
  const readBacklog = () =>
    (latest ??= backlog()
      .catch(() => [])
      .finally(() => setImmediate(() => (latest = undefined))));
  new Gauge({
    name: 'agora_job_queue_depth',
    help: 'Jobs waiting in a queue (due now, deferred, or waiting for a retry), by queue; for dead-letters, the jobs that failed their last retry.',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      for (const { queue, depth } of await readBacklog()) this.set({ queue }, depth);
    },
  });
  new Gauge({
    name: 'agora_job_active',
    help: 'Jobs being processed by a worker now, by queue.',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      for (const { queue, active } of await readBacklog()) this.set({ queue }, active);
    },
  });
  new Gauge({
    name: 'agora_job_oldest_age_seconds',
    help: 'Seconds the oldest job due now has waited for a worker (0 when none), by queue.',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      for (const { queue, oldestAgeSeconds } of await readBacklog()) this.set({ queue }, oldestAgeSeconds);
    },
  });

  return {
    registry,
    stream: createStreamMetrics(registers),
    timelines: createTimelinesMetrics(registers),
    http: {
      ...http,
      /** Starts an operation's series at zero, so that increase() sees its first event. */
      initialise(operation: string, method: string): void {
        for (const status_class of ['2xx', '4xx', '5xx']) http.requests.cell(operation, method, status_class);
        http.unexpectedErrors.inc({ operation }, 0);
        http.rateLimited.inc({ operation }, 0);
        if (method === 'POST') http.idempotentReplays.cell(operation);
      },
      /** A request began: the in-flight gauge counts it until `ended`. */
      started(): void {
        inFlight++;
      },
      ended(): void {
        inFlight--;
      },
    },
    database: {
      /** Pass as `openDatabase`'s `onQuery`. */
      onQuery(sql: string, tookMs: number | undefined, failed: boolean): void {
        const cells = statements[statementKind(sql)];
        (failed ? cells.error : cells.ok).inc();
        if (tookMs !== undefined) cells.duration.observe(tookMs / 1000);
      },
      /** Reports the pool's usage at every scrape. */
      watchPool(usage: () => PoolUsage | undefined): void {
        pool = usage;
      },
      setUp(reachable: boolean): void {
        databaseUp.set(reachable ? 1 : 0);
      },
      /** Reports how far the database's clock is ahead of this instance's (ms), read at every scrape. */
      watchClockOffset(offsetMs: () => number | undefined): void {
        clockOffsetMs = offsetMs;
      },
    },
    cache: {
      /** Pass as the caches' observer. */
      onLookup(cache: string, outcome: 'hit' | 'miss' | 'bypassed', count: number): void {
        cacheLookups.cell(cache, outcome).inc(count);
      },
      /** Pass as the caches' watcher (`Caching.watch`): each cache's contents are read at every scrape. */
      watch(cache: string, contents: () => { entries: number; weight: number | undefined }): void {
        caches.set(cache, contents);
        // Each cache's series start at zero, so that increase() sees its first lookup.
        cacheLookups.cell(cache, 'hit');
        cacheLookups.cell(cache, 'miss');
        cacheLookups.cell(cache, 'bypassed');
      },
      /** Pass as the invalidation listener's `onLiveChange`. */
      setListenerUp(up: boolean): void {
        invalidationsUp.set(up ? 1 : 0);
      },
      /** Reports the invalidation listener's lag at every scrape, and the bound it is held to. */
      watchInvalidationLag(lagSeconds: () => number, maxStalenessMs: number): void {
        invalidationLag = lagSeconds;
        maxStaleness.set(maxStalenessMs / 1000);
      },
    },
    outbound: {
      /** Pass as a domain stub's `observe` (src/remote/client.ts): one call to another server. */
      onCall(target: string, operation: string, outcome: string, seconds: number): void {
        outboundRequests.cell(target, operation, outcome).inc();
        outboundDuration.cell(target, operation).observe(seconds);
      },
      /** Whether the domain server `target` answers (a stub's `onAvailability`). */
      setUp(target: string, up: boolean): void {
        outboundUp.set({ target }, up ? 1 : 0);
      },
    },
    internal: {
      /** One call a domain server answered (src/remote/server.ts). */
      onCall(target: string, operation: string, status: number, seconds: number): void {
        internalRequests.cell(target, operation, statusClass(status)).inc();
        internalDuration.cell(target, operation).observe(seconds);
      },
    },
    rateLimits: {
      /**
       * Registers the shared rate-limit store's metrics: only with one (REDIS_URL), since a
       * store that does not exist is not down. Returns the callbacks that feed them.
       */
      sharedStore() {
        const up = new Gauge({
          name: 'agora_rate_limit_store_up',
          help: 'Whether the shared rate-limit store (Redis) answers (1); while it does not (0), requests are served without rate limits.',
          registers,
        });
        const unchecked = new Counter({
          name: 'agora_rate_limit_store_errors_total',
          help: 'Rate-limit checks the shared store did not answer (failed, timed out, or skipped during its outage): each let its request through unchecked.',
          registers,
        });
        return {
          /** The store's `onChange`. */
          onChange: (available: boolean) => up.set(available ? 1 : 0),
          /** The store's `onUnchecked`. */
          onUnchecked: () => unchecked.inc(),
        };
      },
    },
    jobs: {
      /** Starts each queue's series at zero, so that increase() sees the first event. */
      initialise(queues: readonly string[]): void {
        for (const queue of queues) {
          jobsCompleted.inc({ queue }, 0);
          jobsFailed.inc({ queue }, 0);
          jobsRetried.inc({ queue }, 0);
        }
      },
      /** Pass as the queue's `onAttempt`. */
      onAttempt(queue: string, outcome: 'completed' | 'failed', retry: boolean): void {
        (outcome === 'completed' ? jobsCompleted : jobsFailed).inc({ queue });
        if (retry) jobsRetried.inc({ queue });
      },
      /** Reads the queues' backlog at every scrape (one statement for the three gauges). */
      watchBacklog(read: () => Promise<JobBacklog[]>): void {
        backlog = read;
      },
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
export type HttpMetrics = Metrics['http'];
