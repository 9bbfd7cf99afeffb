// pg-boss's OpenTelemetry stays off (src/jobs/queue.ts, `openTelemetry: { enabled: false }`): with
// it on, every send, fetch and settle built a span, its attributes and a context, about 17 µs of a
// message's CPU (bench/README.md), for an SDK Agora does not register. The queue's metrics are
// Prometheus's. Here a tracer and a meter provider are registered for the whole process, as an
// operator's OpenTelemetry SDK would be: a job sent and run by Agora's queue asks neither of them
// for anything, while a pg-boss with its defaults, on the same queue, starts spans at once (so the
// probe can see them).
import { INVALID_SPAN_CONTEXT, metrics, trace, type Meter, type MeterProvider, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import t from 'tap';
import { boot } from '../src/boot.ts';
import { loadConfig } from '../src/config.ts';
import { createTestQueue, testEffects, TEST_QUEUE, clientUow } from './helpers/jobs.ts';
import { eventually } from './helpers/locks.ts';
import { cloneTemplate } from './helpers/postgres.ts';

t.setTimeout(180_000);

/** What the process's OpenTelemetry providers were asked for. */
const asked = { tracers: [] as string[], spans: [] as string[], meters: [] as string[] };

/** A span that records nothing, as the API's no-op tracer returns. */
const quietSpan = (): Span => trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const tracerProvider: TracerProvider = {
  getTracer(name: string): Tracer {
    asked.tracers.push(name);
    return {
      startSpan(spanName: string): Span {
        asked.spans.push(spanName);
        return quietSpan();
      },
      startActiveSpan(spanName: string, ...rest: unknown[]) {
        asked.spans.push(spanName);
        const fn = rest.at(-1) as (span: Span) => unknown;
        return fn(quietSpan());
      },
    } as Tracer;
  },
};
const noopMeterProvider = metrics.getMeterProvider();
const meterProvider: MeterProvider = {
  getMeter(name: string, version?: string): Meter {
    asked.meters.push(name);
    return noopMeterProvider.getMeter(name, version);
  },
};
t.ok(trace.setGlobalTracerProvider(tracerProvider), 'a tracer provider is registered for the process');
t.ok(metrics.setGlobalMeterProvider(meterProvider), 'a meter provider is registered for the process');
t.teardown(() => {
  trace.disable();
  metrics.disable();
});

const { url, drop } = await cloneTemplate();
t.teardown(drop);
await createTestQueue(url);
const client = new pg.Client({ connectionString: url });
await client.connect();
t.teardown(() => client.end());

t.test("Agora's queue sends and runs a job without a span or an instrument", async (t) => {
  const server = await boot(loadConfig({ DATABASE_URL: url }), {
    logger: false,
    migrate: false,
    listen: { host: '127.0.0.1', port: 0, metricsPort: 0 },
    jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1, schedules: [], consumers: [testEffects()] },
  });
  t.teardown(() => server.close());
  await client.query('begin');
  await server.jobs!.send(clientUow(client), TEST_QUEUE, { key: 'quiet' });
  await client.query('commit');
  await eventually('the job to run and complete', async () =>
    (await client.query(`select 1 from pgboss.job where name = $1 and data->>'key' = 'quiet' and state = 'completed'`, [TEST_QUEUE])).rowCount === 1 ? true : undefined,
  );
  t.equal((await client.query("select 1 from test_effect where key = 'quiet'")).rowCount, 1, 'the job wrote its effect');
  t.same(asked.spans, [], 'no span was started');
  t.same(asked.meters, [], 'no meter was asked for');
});

t.test('a pg-boss with its defaults starts spans on the same providers (the probe sees them)', async (t) => {
  const before = asked.spans.length;
  const boss = new PgBoss({ connectionString: url, migrate: false, supervise: false, schedule: false, useListenNotify: false });
  boss.on('error', () => {});
  await boss.start();
  t.teardown(() => boss.stop({ graceful: false }));
  await boss.send('test-idle', { probe: true });
  t.ok(asked.spans.length > before, `spans were started: ${asked.spans.slice(before).join(', ')}`);
});
