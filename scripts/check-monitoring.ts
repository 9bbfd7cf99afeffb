// `npm run check:monitoring`: promtool checks the files users load into Prometheus and Grafana.
//   - deploy/prometheus/alerts.yml: `promtool check rules`, then its unit tests
//     (`promtool test rules deploy/prometheus/alerts.test.yml`);
//   - deploy/grafana/agora.json: every query parses as PromQL (promtool checks them as recording
//     rules, with Grafana's variables replaced by values).
// Needs promtool (Debian: `apt-get install prometheus`); .ci/run installs it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

function promtool(args: string[]): void {
  const run = spawnSync('promtool', args, { stdio: 'inherit', timeout: 120_000 });
  if (run.error) {
    console.error(`check-monitoring: cannot run promtool (${run.error.message}); install it with \`apt-get install prometheus\``);
    process.exit(2);
  }
  if (run.status !== 0) process.exit(run.status ?? 1);
}

promtool(['check', 'rules', 'deploy/prometheus/alerts.yml']);
promtool(['test', 'rules', 'deploy/prometheus/alerts.test.yml']);

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync('deploy/grafana/agora.json', 'utf8')) as { panels: Panel[] };
const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '5m', $__interval: '1m', $__range: '1h', $instance: '.*' };
const rules = dashboard.panels
  .flatMap((panel) => [panel, ...(panel.panels ?? [])])
  .flatMap((panel) => (panel.targets ?? []).map((target, i) => ({ panel, target, i })))
  .map(({ panel, target, i }) => ({
    record: `dashboard:${panel.title.toLowerCase().replace(/[^a-z0-9]+/g, '_')}:${i}`,
    expr: target.expr.replace(/\$[_a-z]+/g, (name) => {
      const value = GRAFANA_VARIABLES[name];
      if (value === undefined) throw new Error(`panel "${panel.title}" uses ${name}, which this check does not know`);
      return value;
    }),
  }));
const dir = mkdtempSync(join(tmpdir(), 'agora-dashboard-'));
try {
  const file = join(dir, 'dashboard-queries.yml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  console.log(`Checking the ${rules.length} queries of deploy/grafana/agora.json`);
  promtool(['check', 'rules', file]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
