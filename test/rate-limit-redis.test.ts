// Rate limits shared across instances (REDIS_URL): three server processes on one database and one
// Redis allow one budget, not three, for every limit (per address, sign-in per address and per
// account, sign-up per address); without REDIS_URL each instance counts alone. When Redis goes
// away, requests keep being served (fail open), the outage is logged once and shows in the
// metrics and /readyz, and the limits resume when it is back.
// Every test comes from addresses of its own (TRUST_PROXY, X-Forwarded-For) under a prefix of
// this run's, so that its keys are its own; the teardown deletes this run's keys and no others.
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { RATE_LIMIT_KEY_PREFIX } from '../src/http/plugins/rate-limit.ts';
import { startCluster, type Instance, type SentResponse } from './helpers/cluster.ts';
import { eventually } from './helpers/locks.ts';
import { total } from './helpers/metrics.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

// Several server processes on a busy two-core machine.
t.setTimeout(300_000);

const REDIS = { host: '127.0.0.1', port: 6379 };
const PER_MINUTE = 30;
const SIGN_IN_PER_ADDRESS = 6;
const SIGN_IN_PER_ACCOUNT = 5;
const SIGN_UP_PER_ADDRESS = 3;

const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1 });
await redis.connect();
// This run's client addresses: 10.a.b.x, one x per use.
const net = `10.${randomInt(256)}.${randomInt(256)}`;
let host = 0;
const address = () => `${net}.${++host}`;
const run = randomUUID().slice(0, 8);
const emails: string[] = [];
const email = (label: string) => {
  const value = `${label}-${run}@example.com`;
  emails.push(value);
  return value;
};
/** This run's keys: the addresses' (`…all:10.a.b.x`, …), and the accounts' (keyed by their email's hash). */
async function runKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${RATE_LIMIT_KEY_PREFIX}*:${net}.*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  for (const value of emails) {
    const hash = createHash('sha256').update(value).digest('base64url');
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${RATE_LIMIT_KEY_PREFIX}*sign-in-account:${hash}`, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}
/**
 * The limiters whose keys were seen in Redis, each noted right after the requests that made its
 * keys: a key lives only for its limiter's window (one minute for some), so a check at the end
 * of a slow run would find the earliest ones expired.
 */
const counted = new Set<string>();
const KEY = /^agora-rate-limit:(all|sign-in-address|sign-up-address):10\.\d+\.\d+\.\d+$|^agora-rate-limit:(sign-in-account):[\w-]{43}$/;
async function noteKeys(t: { ok(value: unknown, message: string): void }): Promise<void> {
  for (const key of await runKeys()) {
    const match = KEY.exec(key);
    t.ok(match, `key ${key} names its limiter and whom it counts`);
    if (match) counted.add(match[1] ?? match[2]!);
  }
}
t.teardown(async () => {
  const keys = await runKeys();
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const cluster = await startCluster(t, 3, {
  REDIS_URL: `redis://${REDIS.host}:${REDIS.port}`,
  TRUST_PROXY: 'true',
  RATE_LIMIT_PER_MINUTE: String(PER_MINUTE),
  SIGNIN_LIMIT_PER_ADDRESS_PER_MINUTE: String(SIGN_IN_PER_ADDRESS),
  SIGNIN_LIMIT_PER_ACCOUNT_PER_15_MINUTES: String(SIGN_IN_PER_ACCOUNT),
  SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR: String(SIGN_UP_PER_ADDRESS),
});
// A copy: the instances started later join `cluster.instances`.
const shared = [...cluster.instances];

/** `count` requests, spread round-robin over `instances`, a few in flight at a time. */
async function spread(
  instances: Instance[],
  count: number,
  request: (index: number) => { method: string; path: string; from: string; body?: unknown },
): Promise<SentResponse[]> {
  const responses: SentResponse[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 * instances.length }, async () => {
      while (next < count) {
        const index = next++;
        const { method, path, from, body } = request(index);
        responses[index] = await cluster.send(instances[index % instances.length]!, method, path, { headers: { 'x-forwarded-for': from }, body });
      }
    }),
  );
  return responses;
}

/** Unauthenticated reads (401): what the general per-address quota counts. */
const reads = (instances: Instance[], count: number, from: string) => spread(instances, count, () => ({ method: 'GET', path: '/v1/sessions/me', from }));

const limited = (responses: SentResponse[]) => responses.filter((r) => r.status === 429);
const admitted = (responses: SentResponse[]) => responses.filter((r) => r.status !== 429);

function checkRefusals(t: Tap, refusals: SentResponse[], windowSeconds: number) {
  for (const response of refusals) {
    const retryAfter = Number(response.headers.get('retry-after'));
    if (!(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowSeconds)) {
      t.fail(`a 429 without a Retry-After of 1 to ${windowSeconds} s: ${response.headers.get('retry-after')}`);
      return;
    }
    if (!/^"default";r=\d+;t=\d+$/.test(response.headers.get('ratelimit') ?? '') || response.headers.get('ratelimit-policy') !== `"default";q=${PER_MINUTE};w=60`) {
      t.fail(`a 429 without the RateLimit headers: ${response.headers.get('ratelimit')} / ${response.headers.get('ratelimit-policy')}`);
      return;
    }
  }
  t.pass(`each of the ${refusals.length} 429s carries Retry-After (1 to ${windowSeconds} s) and RateLimit / RateLimit-Policy`);
}
type Tap = { pass(message: string): void; fail(message: string): void };

const scrape = async (instance: Instance, name: string) => total(await cluster.scrape(instance), name);

t.test(`with REDIS_URL, ${3 * PER_MINUTE} requests from one address over three instances admit ${PER_MINUTE}: one budget`, async (t) => {
  const responses = await reads(shared, 3 * PER_MINUTE, address());
  t.equal(admitted(responses).length, PER_MINUTE, 'the store counts atomically: exactly the quota is admitted, none beyond');
  t.ok(admitted(responses).every((r) => r.status === 401), 'the admitted ones were answered');
  for (const instance of shared) {
    const served = responses.filter((_, i) => i % 3 === shared.indexOf(instance));
    t.ok(limited(served).length > 0, `${instance.name} refused some: it knows of the others' requests`);
  }
  checkRefusals(t, limited(responses), 60);
  await noteKeys(t);
  const remaining = admitted(responses).map((r) => Number(/r=(\d+)/.exec(r.headers.get('ratelimit')!)![1])).sort((a, b) => b - a);
  t.same(remaining, Array.from({ length: PER_MINUTE }, (_, i) => PER_MINUTE - 1 - i), 'RateLimit counts down the shared quota, each value once');
  for (const instance of shared) t.equal(await scrape(instance, 'agora_rate_limit_store_up'), 1, `${instance.name}: the store is up`);

  const ready = await fetch(`${shared[0]!.origin}/readyz`);
  t.equal(ready.status, 200);
  t.equal(((await ready.json()) as { checks: Record<string, string> }).checks.rateLimitStore, 'ok', '/readyz reports the store');
});

t.test('with REDIS_URL, the sign-in limits (per address, per account) and the sign-up limit are shared', async (t) => {
  // One account, attempted from a new address each time: only the per-account limit applies.
  const target = email('target');
  const perAccount = await spread(shared, 2 * SIGN_IN_PER_ACCOUNT, () => ({ method: 'POST', path: '/v1/sessions', from: address(), body: { email: target, password: 'not the password' } }));
  t.equal(admitted(perAccount).length, SIGN_IN_PER_ACCOUNT, `${SIGN_IN_PER_ACCOUNT} attempts at one account over three instances, then 429`);
  t.ok(admitted(perAccount).every((r) => r.status === 401));
  t.match(limited(perAccount)[0]?.json, { detail: /too many sign-in attempts for this account/ });
  checkRefusals(t, limited(perAccount), 15 * 60);

  // One address, a new account each time: the per-address limit.
  const from = address();
  const perAddress = await spread(shared, 2 * SIGN_IN_PER_ADDRESS, (i) => ({ method: 'POST', path: '/v1/sessions', from, body: { email: email(`many-${i}`), password: 'not the password' } }));
  t.equal(admitted(perAddress).length, SIGN_IN_PER_ADDRESS, `${SIGN_IN_PER_ADDRESS} sign-in attempts from one address over three instances, then 429`);
  t.match(limited(perAddress)[0]?.json, { detail: /too many sign-in attempts from this address/ });
  checkRefusals(t, limited(perAddress), 60);

  const signUpFrom = address();
  const signUps = await spread(shared, 2 * SIGN_UP_PER_ADDRESS, (i) => ({
    method: 'POST',
    path: '/v1/accounts',
    from: signUpFrom,
    body: { email: email(`signup-${i}`), password: 'correct horse battery staple', handle: `rl_${run}_${i}`, displayName: 'Rate limited' },
  }));
  t.equal(admitted(signUps).length, SIGN_UP_PER_ADDRESS, `${SIGN_UP_PER_ADDRESS} sign-ups from one address over three instances, then 429`);
  t.ok(admitted(signUps).every((r) => r.status === 201), 'the admitted sign-ups created their accounts');
  t.match(limited(signUps)[0]?.json, { detail: /too many sign-up attempts from this address/ });
  checkRefusals(t, limited(signUps), 3600);
  await noteKeys(t);
});

t.test('without REDIS_URL each instance counts alone: two instances admit twice the quota', async (t) => {
  const alone = [await cluster.start('local-0', { REDIS_URL: '' }), await cluster.start('local-1', { REDIS_URL: '' })];
  const responses = await reads(alone, 2 * PER_MINUTE + 2, address());
  t.equal(admitted(responses).length, 2 * PER_MINUTE, 'each admitted its own quota');
  t.equal(limited(responses).length, 2);
  checkRefusals(t, limited(responses), 60);
  const scraped = await cluster.scrape(alone[0]!);
  t.notOk(scraped.samples.some((s) => s.name.startsWith('agora_rate_limit_store')), 'no store metrics without a store');
  const ready = await fetch(`${alone[0]!.origin}/readyz`);
  t.notOk('rateLimitStore' in ((await ready.json()) as { checks: Record<string, string> }).checks, '/readyz has no store to report');
  for (const instance of alone) instance.process.kill('SIGTERM');
  await Promise.all(alone.map((i) => i.exited));
});

t.test('a REDIS_URL that is not a redis:// URL stops the start with one line on stderr', async (t) => {
  await t.rejects(cluster.start('bad-url', { REDIS_URL: 'http://127.0.0.1:6379' }), /exited at start-up: agora: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL, e\.g\. redis:\/\/127\.0\.0\.1:6379\n$/);
});

t.test('Redis unreachable: requests are served, the outage is logged once and counted, and the limits resume when it is back', async (t) => {
  const proxy = await startTcpProxy(REDIS);
  t.teardown(() => proxy.close());
  const outages = (instance: Instance) => instance.logs.filter((l) => /^the rate-limit store is unavailable/.test(l.msg ?? ''));
  const recoveries = (instance: Instance) => instance.logs.filter((l) => /^the rate-limit store answers again/.test(l.msg ?? ''));
  // An instance writes its log lines in batches, within 200 ms of each (src/log-destination.ts):
  // wait for a line to arrive before counting (a timeout leaves the count below to fail).
  const arrived = (lines: () => unknown[], n: number) =>
    eventually(`${n} such log line(s)`, async () => (lines().length >= n ? true : undefined), 10_000).catch(() => undefined);

  // Unreachable from the start: the instance starts anyway.
  proxy.blackhole();
  const instance = await cluster.start('proxied', { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  const down = await reads([instance], PER_MINUTE + 10, address());
  t.equal(admitted(down).length, PER_MINUTE + 10, 'every request served: the limits fail open');
  t.ok(down.every((r) => r.headers.get('ratelimit') === `"default";r=${PER_MINUTE};t=0`), 'RateLimit still sent: the whole quota, no window');
  await arrived(() => outages(instance), 1);
  t.equal(outages(instance).length, 1, 'the outage logged once, not per request');
  t.equal(outages(instance)[0]!.level, 40, 'at warn');
  t.equal(await scrape(instance, 'agora_rate_limit_store_up'), 0, 'the metric shows the store down');
  t.ok((await scrape(instance, 'agora_rate_limit_store_errors_total')) >= PER_MINUTE + 10, 'each unchecked request counted');
  const ready = await fetch(`${instance.origin}/readyz`);
  t.equal(ready.status, 200, 'still ready: the store is not needed to serve');
  t.equal(((await ready.json()) as { checks: Record<string, string> }).checks.rateLimitStore, 'unavailable');

  proxy.restore();
  await eventually('the store to be back', async () => ((await scrape(instance, 'agora_rate_limit_store_up')) === 1 ? true : undefined), 30_000);
  await arrived(() => recoveries(instance), 1);
  t.equal(recoveries(instance).length, 1, 'its return logged once');
  t.equal(recoveries(instance)[0]!.level, 40);
  const back = await reads([instance, ...shared], PER_MINUTE + 10, address());
  t.equal(admitted(back).length, PER_MINUTE, 'limited again, in the budget the others share');
  checkRefusals(t, limited(back), 60);

  // Lost while running: the connection drops.
  proxy.blackhole();
  await eventually('the store to be seen down', async () => ((await scrape(instance, 'agora_rate_limit_store_up')) === 0 ? true : undefined), 30_000);
  const lost = await reads([instance], PER_MINUTE + 10, address());
  t.equal(admitted(lost).length, PER_MINUTE + 10, 'every request served');
  await arrived(() => outages(instance), 2);
  t.equal(outages(instance).length, 2, 'one more line for this outage');
  proxy.restore();
  await eventually('the store to be back', async () => ((await scrape(instance, 'agora_rate_limit_store_up')) === 1 ? true : undefined), 30_000);

  // Frozen: connected, but nothing answers. A check waits for its deadline at most, then the
  // requests go through without waiting while the store is out.
  proxy.stall();
  const started = Date.now();
  const frozen = await reads([instance], 10, address());
  const tookMs = Date.now() - started;
  t.equal(admitted(frozen).length, 10, 'every request served');
  t.ok(tookMs < 5000, `served within the check deadline (1 s) and some slack: ${tookMs} ms`);
  await arrived(() => outages(instance), 3);
  t.equal(outages(instance).length, 3, 'one line for this outage');
  proxy.resume();
  await eventually('the store to be back', async () => ((await scrape(instance, 'agora_rate_limit_store_up')) === 1 ? true : undefined), 30_000);
  await arrived(() => recoveries(instance), 3);
  t.equal(recoveries(instance).length, 3, 'each return logged once');
  const resumed = await reads([instance], PER_MINUTE + 5, address());
  t.equal(admitted(resumed).length, PER_MINUTE, 'limited again');
  t.same(instance.logs.filter((l) => l.level >= 50), [], 'nothing logged at error');
});

t.test('each shared key names its limiter and whom it counts, and nothing else', async (t) => {
  const keys = await runKeys();
  t.ok(keys.length > 0, 'the run left keys to check');
  for (const key of keys) t.ok(KEY.test(key), `key ${key}`);
  t.same([...counted].sort(), ['all', 'sign-in-account', 'sign-in-address', 'sign-up-address'], 'every limiter counted in Redis');
});
