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
import { total } from './metrics.ts';
import { cloneTemplate, freePort } from './postgres.ts';

export type DomainServer = Booted & { logs: Record<string, any>[] };

export interface DomainApart {
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
 * instance (its consumers then call the domain server through the stub).
 */
export async function startDomainApart(t: Test, domain: string, options: { jobs?: boolean; apiJobs?: boolean } = {}): Promise<DomainApart> {
  const token = `internal-${randomUUID()}`;
  const { url: databaseUrl, drop } = await cloneTemplate();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const start = async (): Promise<DomainServer> => {
    const logs: Record<string, any>[] = [];
    const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
    const config = loadConfig({ SERVE_DOMAINS: domain, INTERNAL_API_TOKEN: token, DATABASE_URL: databaseUrl, MAX_EVENT_LOOP_DELAY_MS: '0' });
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
export async function outboundCalls(apart: DomainApart, target: string, operation: string, outcome: string): Promise<number> {
  return total(await apart.api.scrape(), 'agora_outbound_requests_total', { target, operation, outcome });
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
