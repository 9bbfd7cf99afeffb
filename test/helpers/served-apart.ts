// A domain served apart, for end-to-end tests: a domain server (SERVE_DOMAINS=<domain>) on a port
// of its own and API instances that use it through the stub (<DOMAIN>_SERVICE_URL), all on one
// database cloned from the template, with real HTTP between them. The domain server can be
// stopped and started again on the same port; `checkOutage` and `checkRecovered` are what every
// domain's test asserts about an outage (503 with Retry-After, at once; the rest served; the
// instance stays ready, degraded; the outage counted and logged once; served again by itself).
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { loadConfig } from '../../src/config.ts';
import { boot, type Booted } from '../../src/boot.ts';
import { loggerOptions } from '../../src/http/logger.ts';
import { startAgora, type Agora } from './agora.ts';
import { total } from './metrics.ts';
import { cloneTemplate, freePort } from './postgres.ts';


/** The job queue's timings of these tests: events are consumed within a second. */
export const JOB_TUNING = { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 };

export interface DomainServer {
  /** The server running now (another after each `start`). */
  current: Booted;
  /** `http://127.0.0.1:<port>`: its <DOMAIN>_SERVICE_URL. */
  url: string;
  /** Every line it logged, across restarts. */
  logs: Record<string, any>[];
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export interface ServedApart {
  domain: string;
  server: DomainServer;
  instances: Agora[];
  /** INTERNAL_API_TOKEN. */
  token: string;
  databaseUrl: string;
  /** REMOTE_CALL_TIMEOUT_MS of the instances. */
  deadlineMs: number;
}

export interface ServeApartOptions {
  /** How many API instances use the stub (default 1). */
  instances?: number;
  /** Which side runs the job queue's worker (the durable events' consumers): default the instances. */
  worker?: 'instances' | 'server';
  deadlineMs?: number;
}

/** Starts the domain server of `domain` and API instances using it; everything is stopped at teardown. */
export async function serveApart(t: Test, domain: string, options: ServeApartOptions = {}): Promise<ServedApart> {
  const token = `internal-${randomUUID()}`;
  const deadlineMs = options.deadlineMs ?? 1500;
  const workerOnServer = options.worker === 'server';
  const { url: databaseUrl, drop } = await cloneTemplate();
  const port = await freePort();
  const logs: Record<string, any>[] = [];
  const launch = () =>
    boot(loadConfig({ SERVE_DOMAINS: domain, INTERNAL_API_TOKEN: token, DATABASE_URL: databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' }), {
      logger: loggerOptions({ level: 'info', pretty: false, stream: { write: (line: string) => void logs.push(JSON.parse(line)) } }),
      databaseUrl,
      poolMax: 5,
      listen: { host: '127.0.0.1', port, metricsPort: 0 },
      migrate: false,
      jobs: workerOnServer,
      ...(workerOnServer && { jobTuning: JOB_TUNING }),
    });
  const server: DomainServer = {
    current: await launch(),
    url: `http://127.0.0.1:${port}`,
    logs,
    stop: () => server.current.close(),
    async start() {
      server.current = await launch();
    },
  };
  const env = { [`${domain.toUpperCase()}_SERVICE_URL`]: server.url, INTERNAL_API_TOKEN: token, REMOTE_CALL_TIMEOUT_MS: String(deadlineMs) };
  const instances: Agora[] = [];
  for (let i = 0; i < (options.instances ?? 1); i++) {
    instances.push(await startAgora(t, env, { databaseUrl, ...(!workerOnServer && { jobs: true, jobTuning: JOB_TUNING }) }));
  }
  t.teardown(async () => {
    await server.current.close();
    await drop();
  });
  return { domain, server, instances, token, databaseUrl, deadlineMs };
}

/** Polls `check` until it returns something truthy, or gives up after `timeoutMs` and returns the last answer. */
export async function waitFor<T>(check: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = await check();
    if (found || Date.now() > until) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * With the domain server stopped: `request` (one of its operations, through `instance`) answers
 * 503 with Retry-After within the deadline, the instance stays ready but degraded, the outage is
 * counted for `operation` and logged once as a warning, never as an error.
 */
export async function checkOutage(
  t: Test,
  apart: ServedApart,
  instance: Agora,
  request: { method: string; path: string; token: string; body?: unknown; operation: string },
): Promise<void> {
  const started = Date.now();
  const down = await instance.raw(request.method, request.path, {
    headers: { authorization: `Bearer ${request.token}`, ...(request.body !== undefined && { 'content-type': 'application/json' }) },
    ...(request.body !== undefined && { body: JSON.stringify(request.body) }),
  });
  // A refused connection is answered at once; the bound is the call's deadline, plus slack for a busy machine.
  t.ok(Date.now() - started < apart.deadlineMs + 2500, `${request.method} ${request.path}: 503 promptly (within the deadline)`);
  t.equal(down.status, 503, `${request.method} ${request.path}: 503`);
  t.equal(down.headers.get('retry-after'), '10', 'with Retry-After');
  t.match(down.json, { type: 'urn:agora:problem:service-unavailable', status: 503 });
  const ready = await fetch(`${instance.origin}/readyz`);
  t.equal(ready.status, 200, 'the instance stays in the load balancer');
  t.match(await ready.json(), { status: 'degraded', checks: { domains: { [apart.domain]: 'unreachable' } } });
  const scrape = await instance.scrape();
  t.ok(total(scrape, 'agora_outbound_requests_total', { target: apart.domain, operation: request.operation, outcome: 'unavailable' }) >= 1, 'counted as unavailable');
  t.equal(total(scrape, 'agora_outbound_target_up', { target: apart.domain }), 0);
  t.notOk(instance.logs.some((l) => l.level >= 50), 'no error logged: an outage is expected');
  t.equal(instance.logs.filter((l) => l.msg?.includes(`the ${apart.domain} domain server is unreachable`)).length, 1, 'the outage is logged once, where it begins');
}

/** After the domain server is back: `instance` says it is ready again and reachable, without a restart of its own. */
export async function checkRecovered(t: Test, apart: ServedApart, instance: Agora): Promise<void> {
  t.match(await (await fetch(`${instance.origin}/readyz`)).json(), { status: 'ready', checks: { domains: { [apart.domain]: 'ok' } } });
  t.equal(total(await instance.scrape(), 'agora_outbound_target_up', { target: apart.domain }), 1);
  t.ok(instance.logs.some((l) => l.msg === `the ${apart.domain} domain server answers again`), 'the end of the outage is logged');
}

/**
 * The calls `instance` made are counted per operation and outcome (`ok` and `rejected`: at least
 * so many of each operation), and timed (`timed`); the domain is reachable; the domain server
 * counted what it answered (`answered`, a 2xx) and says what it serves.
 */
export async function checkCounted(
  t: Test,
  apart: ServedApart,
  instance: Agora,
  counts: { ok: Record<string, number>; rejected: Record<string, number>; timed: string; answered: string },
): Promise<void> {
  const target = apart.domain;
  const scrape = await instance.scrape();
  for (const [operation, least] of Object.entries(counts.ok)) {
    t.ok(total(scrape, 'agora_outbound_requests_total', { target, operation, outcome: 'ok' }) >= least, `${operation}: at least ${least} answered`);
  }
  for (const [operation, least] of Object.entries(counts.rejected)) {
    t.ok(total(scrape, 'agora_outbound_requests_total', { target, operation, outcome: 'rejected' }) >= least, `${operation}: domain errors counted as rejected`);
  }
  t.ok(total(scrape, 'agora_outbound_request_duration_seconds_count', { target, operation: counts.timed }) >= 1, `${counts.timed}: timed`);
  t.equal(total(scrape, 'agora_outbound_target_up', { target }), 1);
  const text = await (await fetch(apart.server.current.metricsUrl!)).text();
  t.match(text, new RegExp(`agora_internal_requests_total\\{target="${target}",operation="${counts.answered}",status_class="2xx"\\} [1-9]`));
  t.match(await (await fetch(`${apart.server.url}/readyz`)).json(), { status: 'ready', serves: [target] });
}
