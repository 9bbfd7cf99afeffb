// The alerting rules and the dashboard only name metrics that the server really exposes, so that
// renaming a metric without updating deploy/ fails here (promtool checks their syntax:
// `npm run check:monitoring`).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { startAgora } from './helpers/agora.ts';

// With the job queue, the shared rate-limit store and a domain served apart (the social graph,
// at an address where nothing listens: its calls fail), whose metrics the alerts and the
// dashboard name too.
const agora = await startAgora(
  t,
  { REDIS_URL: 'redis://127.0.0.1:6379', SOCIAL_SERVICE_URL: 'http://127.0.0.1:9', INTERNAL_API_TOKEN: 'monitoring-test-secret' },
  { jobs: true },
);
// A call to the social domain server, for the outbound families' series.
await agora.raw('GET', '/v1/accounts/01a20a21-4c2b-7441-8746-a768807f76b6/friends');
// Something in every family that has labels, so that its series exist in the scrape.
await agora.raw('GET', '/v1/nothing-here');
await agora.raw('GET', '/v1/accounts?limit=0');
// And a query through the pool (the database's own probes use connections of their own).
await agora.raw('GET', '/v1/accounts');

/** Metric names in a PromQL expression: the identifiers that a selector follows. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)].map((m) => m[1]!).filter((name) => name !== 'up');
}

const alerts = parse(readFileSync('deploy/prometheus/alerts.yml', 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
const dashboard = JSON.parse(readFileSync('deploy/grafana/agora.json', 'utf8')) as { panels: { title: string; type: string; targets?: { expr: string }[] }[] };

t.test('every metric the alerts use is exposed', async (t) => {
  const scrape = await agora.scrape();
  const exposed = new Set(scrape.samples.map((s) => s.name));
  const rules = alerts.groups.flatMap((g) => g.rules);
  t.ok(rules.length >= 5);
  for (const rule of rules) {
    for (const name of metricNames(rule.expr)) t.ok(exposed.has(name), `${rule.alert}: ${name}`);
  }
  for (const required of ['AgoraErrorResponses', 'AgoraHighLatencyP99', 'AgoraDatabaseErrors', 'AgoraDatabaseUnreachable', 'AgoraMemoryGrowth', 'AgoraInstanceDown']) {
    t.ok(rules.some((r) => r.alert === required), required);
  }
});

t.test('every metric the dashboard charts is exposed', async (t) => {
  const scrape = await agora.scrape();
  const exposed = new Set(scrape.samples.map((s) => s.name));
  const charts = dashboard.panels.filter((p) => p.type !== 'row');
  t.ok(charts.length >= 10);
  for (const panel of charts) {
    t.ok(panel.targets?.length, `${panel.title} has queries`);
    for (const target of panel.targets ?? []) {
      for (const name of metricNames(target.expr)) t.ok(exposed.has(name), `${panel.title}: ${name}`);
    }
  }
  const charted = new Set(charts.flatMap((p) => (p.targets ?? []).flatMap((q) => metricNames(q.expr))));
  for (const needed of [
    'agora_http_requests_total',
    'agora_http_error_responses_total',
    'agora_http_request_duration_seconds_bucket',
    'agora_db_query_duration_seconds_bucket',
    'process_resident_memory_bytes',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_p99_seconds',
  ]) {
    t.ok(charted.has(needed), `the dashboard charts ${needed}`);
  }
});
