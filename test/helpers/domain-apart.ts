// One domain in a server of its own (SERVE_DOMAINS=<domain>) and one API instance that uses it
// through its stub (<DOMAIN>_SERVICE_URL), both in process on one database, with real HTTP
// between them: the setup of the tests of each domain served apart. The domain server can be
// stopped and started again on the same port, and its log lines are kept.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { unwrap, type AgoraClient } from 'agora-sdk';
import { boot, type Booted } from '../../src/boot.ts';
import { loadConfig } from '../../src/config.ts';
import { loggerOptions } from '../../src/http/logger.ts';
import { startAgora, type Agora } from './agora.ts';
import { parseMetrics, total } from './metrics.ts';
import { cloneTemplate, freePort } from './postgres.ts';

export type DomainServer = Booted & { logs: Record<string, any>[] };

export interface DomainApart {
  /** The domain, e.g. `channels` (the metrics' `target`). */
  domain: string;
  /** The domain server as it runs now (replaced by `restart`). */
  server: DomainServer;
  /** Its base URL (the same after a restart). */
  url: string;
  /** INTERNAL_API_TOKEN, shared by both. */
  token: string;
  /** The API instance that calls it. */
  api: Agora;
  /** Stops the domain server. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

/** REMOTE_CALL_TIMEOUT_MS of the API instance. */
export const DEADLINE_MS = 1500;

/**
 * `domain` served apart, and an API instance on it. `jobs`: the domain server runs the job
 * queue and a worker (it publishes the domain's durable events); `apiJobs`: so does the API
 * instance (its consumers then call the domain server through the stub); `serverEnv`: more
 * settings of the domain server.
 */
export async function startDomainApart(
  t: Test,
  domain: string,
  options: { jobs?: boolean; apiJobs?: boolean; serverEnv?: Record<string, string> } = {},
): Promise<DomainApart> {
  const token = `internal-${randomUUID()}`;
  const { url: databaseUrl, drop } = await cloneTemplate();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const start = async (): Promise<DomainServer> => {
    const logs: Record<string, any>[] = [];
    const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
    const config = loadConfig({ ...options.serverEnv, SERVE_DOMAINS: domain, INTERNAL_API_TOKEN: token, DATABASE_URL: databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' });
    const server = await boot(config, {
      logger: loggerOptions({ level: 'info', pretty: false, stream }),
      databaseUrl,
      poolMax: 5,
      listen: { host: '127.0.0.1', port, metricsPort: 0 },
      migrate: false,
      jobs: options.jobs ?? false,
      jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 },
    });
    return Object.assign(server, { logs });
  };
  let running = true;
  const apart: DomainApart = {
    domain,
    server: await start(),
    url,
    token,
    api: undefined as unknown as Agora,
    async stop() {
      running = false;
      await apart.server.close();
    },
    async restart() {
      apart.server = await start();
      running = true;
    },
  };
  t.teardown(async () => {
    if (running) await apart.server.close();
    await drop();
  });
  apart.api = await startAgora(
    t,
    { [`${domain.toUpperCase()}_SERVICE_URL`]: url, INTERNAL_API_TOKEN: token, REMOTE_CALL_TIMEOUT_MS: String(DEADLINE_MS) },
    { databaseUrl, jobs: options.apiJobs ?? false, jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 } },
  );
  return apart;
}

/** How many calls of `operation` the API instance counted with `outcome` (agora_outbound_requests_total). */
export async function outboundCalls(apart: DomainApart, operation: string, outcome: string): Promise<number> {
  return total(await apart.api.scrape(), 'agora_outbound_requests_total', { target: apart.domain, operation, outcome });
}

/** How many calls of `operation` the domain server answered with `statusClass`, e.g. `2xx` (agora_internal_requests_total). */
export async function internalCalls(apart: DomainApart, operation: string, statusClass: string): Promise<number> {
  const text = await (await fetch(apart.server.metricsUrl!)).text();
  return total(parseMetrics(text), 'agora_internal_requests_total', { target: apart.domain, operation, status_class: statusClass });
}

/** Calls `operation` of the domain server's internal API directly, with `token` (the shared secret by default). */
export function internalCall(apart: DomainApart, operation: string, args: unknown, token = apart.token): Promise<Response> {
  return fetch(`${apart.url}/internal/${apart.domain}/${operation}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': token },
    body: JSON.stringify({ args }),
  });
}

/**
 * Checks that the internal API refuses `operation` without the shared secret (401) and with
 * each of `invalid` (400 bad-call: they do not match the internal contract), and serves it with
 * `valid`; returns what it answered.
 */
export async function checkInternalApi(t: Test, apart: DomainApart, operation: string, valid: unknown[], invalid: unknown[][]): Promise<unknown> {
  const wrong = await internalCall(apart, operation, valid, `${apart.token}x`);
  t.equal(wrong.status, 401, 'refused without the shared secret');
  await wrong.body?.cancel();
  for (const args of invalid) {
    const refused = await internalCall(apart, operation, args);
    t.equal(refused.status, 400, `${JSON.stringify(args)} is refused`);
    t.match(await refused.json(), { kind: 'bad-call' });
  }
  const ok = await internalCall(apart, operation, valid);
  t.equal(ok.status, 200, 'a valid call is served');
  return ok.json();
}

/** POSTs `body` to `path` twice with one Idempotency-Key: the retry must be replayed from the first's record (201, same id), without calling `operation` on the domain server again. */
export async function checkKeyedRetry(t: Test, apart: DomainApart, token: string, path: string, body: unknown, operation: string): Promise<void> {
  const key = randomUUID();
  const post = () =>
    apart.api.raw('POST', path, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
  const calls = async () => total(await apart.api.scrape(), 'agora_outbound_requests_total', { target: apart.domain, operation });
  const before = await calls();
  const first = await post();
  t.equal(first.status, 201);
  t.equal(await calls(), before + 1, `one call of ${operation} to the domain server`);
  const retried = await post();
  t.equal(retried.status, 201, 'the retry is answered');
  t.equal(retried.headers.get('idempotent-replayed'), 'true', 'from the record');
  t.equal(retried.json.id, first.json.id, 'with the first one');
  t.equal(await calls(), before + 1, "and goes no further than its key's claim: no call to the domain server");
}

/**
 * Stops the domain server, checks that `request` (one of its operations through the API
 * instance) is answered 503 with Retry-After at once, and that the instance stays ready but
 * degraded; starts it again and checks that `request` is served (`status`) without restarting
 * the instance.
 */
export async function checkOutageAndRecovery(
  t: Test,
  apart: DomainApart,
  target: string,
  request: () => Promise<{ status: number; headers: Headers; json?: unknown }>,
  status: number,
): Promise<void> {
  await apart.stop();
  const started = Date.now();
  const down = await request();
  // A refused connection is answered at once; the bound is the call's deadline, plus slack for a busy machine.
  t.ok(Date.now() - started < DEADLINE_MS + 2500, 'promptly (within the deadline)');
  t.equal(down.status, 503, 'the domain server is down: 503');
  t.equal(down.headers.get('retry-after'), '10', 'with Retry-After');
  t.match(down.json, { type: 'urn:agora:problem:service-unavailable', status: 503 });
  const ready = await fetch(`${apart.api.origin}/readyz`);
  t.equal(ready.status, 200, 'the instance stays in the load balancer');
  t.match(await ready.json(), { status: 'degraded', checks: { domains: { [target]: 'unreachable' } } });
  const scrape = await apart.api.scrape();
  t.equal(total(scrape, 'agora_outbound_target_up', { target }), 0);
  t.notOk(apart.api.logs.some((l) => l.level >= 50), 'no error logged: an outage is expected');
  t.equal(apart.api.logs.filter((l) => l.msg?.includes(`the ${target} domain server is unreachable`)).length, 1, 'the outage is logged once, where it begins');

  await apart.restart();
  const back = await request();
  t.equal(back.status, status, 'served again, without restarting the instance');
  t.match(await (await fetch(`${apart.api.origin}/readyz`)).json(), { status: 'ready', checks: { domains: { [target]: 'ok' } } });
}

/** `client`'s notifications of `type`, once there are `count` of them (made by a worker, later) or after 20 s. */
export async function notificationsOf(client: AgoraClient, type: string, count: number) {
  const until = Date.now() + 20_000;
  for (;;) {
    const found = (await unwrap(client.GET('/notifications', { params: { query: { limit: 100 } } }))).data.filter((n) => n.type === type);
    if (found.length >= count || Date.now() > until) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
