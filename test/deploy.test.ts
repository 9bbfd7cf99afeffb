// The deployment files (deploy/, Dockerfile) hold together, offline: the compose file and the
// Kubernetes manifests parse; every setting they give an Agora process is one the server reads
// (or one of the few awaited from work in progress, listed below); the image runs `npm start`'s
// command; every Agora process is scraped under the job the alerts expect, and every API instance
// is behind the load balancer; every Service selects pods and ports that exist, every reference
// to a ConfigMap or Secret key resolves, every Agora container has probes and resources.
// Where the tools are installed, promtool and haproxy check their own files.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { projectRoot, serverArgs, serverEnv } from './helpers/server-command.ts';

const read = (path: string) => readFileSync(join(projectRoot, path), 'utf8');
const config = read('src/config.ts');
// Settings of issue 15 built on other branches: allowed here before the server reads them.
const AWAITED: string[] = [];
const known = (name: string) => new RegExp(`\\b${name}\\b`).test(config);

function checkSettings(t: { ok(value: unknown, message: string): unknown }, where: string, names: Iterable<string>) {
  for (const name of names) {
    if (known(name)) continue;
    t.ok(AWAITED.includes(name), `${where}: ${name} is a setting the server reads`);
  }
}

const startFlags = serverArgs().slice(0, -1);
const startEnv = serverEnv();

t.test('Dockerfile: Node 24, non-root, npm start\'s command', async (t) => {
  const dockerfile = read('Dockerfile');
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
  t.ok(froms.length >= 2 && froms.every((f) => /^node:24\b/.test(f)), `multi-stage on Node 24: ${froms.join(', ')}`);
  t.match(dockerfile, /^RUN npm ci && npm run build && npm prune --omit=dev/m);
  t.match(dockerfile, /^USER node$/m);
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!);
  t.same(cmd, ['node', ...startFlags, 'dist/main.js'], 'the CMD is package.json\'s start');
  // and its environment: ENV in the image, so that compose and Kubernetes inherit it.
  t.ok(Object.keys(startEnv).length > 0, 'the start script sets the allocator\'s environment');
  for (const [name, value] of Object.entries(startEnv)) t.match(dockerfile, new RegExp(`^ENV ${name}=${value}$`, 'm'), `the image sets ${name}=${value}`);
  // The build context keeps what the build needs.
  const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
  for (const needed of ['src', 'sdk', 'openapi.yaml', 'openapi-v2.yaml', 'package-lock.json', 'tsconfig.build.json']) t.notOk(ignored.includes(needed), `${needed} is in the build context`);
});

t.test('compose.yaml', async (t) => {
  const compose = parse(read('deploy/compose.yaml'), { merge: true }) as any;
  const services = compose.services as Record<string, any>;
  const agora = Object.entries(services).filter(([, s]) => s.image === 'agora:latest');
  const apis = agora.filter(([name]) => /^api-\d+$/.test(name)).map(([name]) => name);
  t.same(apis, ['api-1', 'api-2', 'api-3'], 'three API instances');
  t.same(agora.map(([name]) => name).sort(), [...apis, 'social', 'worker'].sort(), 'and the social server and a worker, all from the image');
  for (const [name, service] of agora) {
    checkSettings(t, name, Object.keys(service.environment));
    t.match(service.environment.DATABASE_URL, /@pgbouncer:6432\//, `${name}: requests through PgBouncer`);
    t.match(service.environment.DATABASE_DIRECT_URL, /@postgres:5432\//, `${name}: sessions straight to PostgreSQL`);
  }
  for (const name of apis) {
    t.equal(services[name].environment.WORKER, 'off', `${name}: WORKER=off`);
    t.equal(services[name].environment.SOCIAL_SERVICE_URL, 'http://social:3000', `${name}: the social domain apart`);
    t.ok(services[name].environment.REDIS_URL, `${name}: shared rate limits`);
  }
  t.equal(services.social.environment.SERVE_DOMAINS, 'social');
  t.same(services.worker.command, ['node', ...startFlags, 'dist/worker.js'], 'the worker: npm run worker\'s command');
  // Every file mounted from deploy/ exists.
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      const source = String(volume).split(':')[0]!;
      if (source.startsWith('./')) t.ok(existsSync(join(projectRoot, 'deploy', source)), `${name}: ${source} exists`);
    }
    if (typeof service.build === 'string') t.ok(existsSync(join(projectRoot, 'deploy', service.build, 'Dockerfile')), `${name}: its Dockerfile exists`);
  }
  t.match(read('deploy/pgbouncer/pgbouncer.ini'), /^pool_mode = transaction$/m);

  // The load balancer sends to every API instance, checking /readyz.
  const haproxy = read('deploy/haproxy/haproxy.cfg');
  t.same([...haproxy.matchAll(/^\s*server (\S+) (\S+):3000$/gm)].map((m) => [m[1], m[2]]), apis.map((a) => [a, a]));
  t.match(haproxy, /http-check send meth GET uri \/readyz/);

  // Prometheus scrapes every Agora process, as the job the alerts expect.
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as any;
  const job = prometheus.scrape_configs.find((c: any) => c.job_name === 'agora');
  const targets = job.static_configs.flatMap((c: any) => c.targets).sort();
  t.same(targets, agora.map(([name]) => `${name}:9464`).sort(), 'every Agora process\'s METRICS_PORT');
  t.same(prometheus.rule_files, ['alerts.yml']);
});

t.test('Kubernetes manifests', async (t) => {
  const dir = 'deploy/kubernetes';
  const files = readdirSync(join(projectRoot, dir)).filter((f) => f.endsWith('.yaml')).sort();
  const kustomization = parse(read(`${dir}/kustomization.yaml`)) as any;
  t.same([...kustomization.resources].sort(), files.filter((f) => f !== 'kustomization.yaml'), 'kustomization lists every manifest');
  const objects: any[] = [];
  for (const file of kustomization.resources as string[]) {
    for (const doc of parseAllDocuments(read(`${dir}/${file}`))) {
      t.same(doc.errors, [], `${file} parses`);
      const object = doc.toJS();
      t.ok(object.apiVersion && object.kind && object.metadata?.name, `${file}: ${object.kind}/${object.metadata?.name} has apiVersion, kind, name`);
      objects.push(object);
    }
  }
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];
  const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

  for (const w of workloads) {
    t.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.metadata.name}: its selector matches its pods`);
    for (const c of w.spec.template.spec.containers) {
      t.ok(c.resources?.requests?.memory && c.resources?.limits?.memory, `${w.metadata.name}/${c.name}: memory requested and limited`);
      t.ok(c.livenessProbe && (c.readinessProbe || w.metadata.name === 'worker'), `${w.metadata.name}/${c.name}: probes`);
      const ports = new Set((c.ports ?? []).map((p: any) => p.name));
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe].filter(Boolean)) {
        const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
        if (port !== undefined) t.ok(ports.has(port), `${w.metadata.name}/${c.name}: probe port ${port} is declared`);
      }
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef) t.ok(find('ConfigMap', from.configMapRef.name), `${w.metadata.name}: ConfigMap ${from.configMapRef.name} exists`);
        if (from.secretRef) t.ok(find('Secret', from.secretRef.name), `${w.metadata.name}: Secret ${from.secretRef.name} exists`);
      }
      for (const env of c.env ?? []) {
        const ref = env.valueFrom?.secretKeyRef;
        if (ref) t.ok(find('Secret', ref.name)?.stringData?.[ref.key] !== undefined, `${w.metadata.name}: secret key ${ref.name}/${ref.key} exists`);
      }
      for (const volume of w.spec.template.spec.volumes ?? []) {
        if (volume.configMap) t.ok(find('ConfigMap', volume.configMap.name), `${w.metadata.name}: ConfigMap ${volume.configMap.name} exists`);
      }
      if (c.image === 'agora') {
        const env = [...Object.keys(find('ConfigMap', 'agora-config').data), ...Object.keys(find('Secret', 'agora-secrets').stringData).filter((k) => k !== 'POSTGRES_PASSWORD'), ...(c.env ?? []).map((e: any) => e.name)];
        checkSettings(t, `${w.metadata.name}/${c.name}`, env);
        t.same(c.command ?? ['node', ...startFlags, 'dist/main.js'], ['node', ...startFlags, w.metadata.name === 'worker' ? 'dist/worker.js' : 'dist/main.js'], `${w.metadata.name}: npm start's Node flags`);
        t.equal(w.spec.template.metadata.annotations?.['prometheus.io/port'], '9464', `${w.metadata.name}: scraped on METRICS_PORT`);
        t.ok(find('PodDisruptionBudget', w.metadata.name), `${w.metadata.name}: a PodDisruptionBudget`);
      }
    }
  }
  t.same(
    workloads.filter((w) => w.spec.template.spec.containers.some((c: any) => c.image === 'agora')).map((w) => w.metadata.name).sort(),
    ['api', 'social', 'worker'],
  );
  const api = find('Deployment', 'api').spec.template.spec.containers[0];
  t.equal(api.readinessProbe.httpGet.path, '/readyz');
  t.equal(api.livenessProbe.httpGet.path, '/healthz');
  t.same(api.env, [{ name: 'WORKER', value: 'off' }]);
  t.equal(find('Deployment', 'social').spec.template.spec.containers[0].env.find((e: any) => e.name === 'SERVE_DOMAINS').value, 'social');

  for (const service of byKind('Service')) {
    const pods = workloads.filter((w) => matches(service.spec.selector, w.spec.template.metadata.labels));
    t.equal(pods.length, 1, `Service ${service.metadata.name} selects one workload`);
    const ports = new Set(pods[0]?.spec.template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name)));
    for (const port of service.spec.ports) t.ok(ports.has(port.targetPort), `Service ${service.metadata.name}: target port ${port.targetPort} exists`);
  }
  for (const pdb of byKind('PodDisruptionBudget')) t.ok(workloads.some((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels)), `PDB ${pdb.metadata.name} selects pods`);
  const hpa = find('HorizontalPodAutoscaler', 'api');
  t.ok(find(hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name), 'the autoscaler targets the api Deployment');
  const backend = find('Ingress', 'agora').spec.rules[0].http.paths[0].backend.service;
  t.ok(find('Service', backend.name)?.spec.ports.some((p: any) => p.name === backend.port.name), 'the ingress reaches the api Service');
  // The same PgBouncer settings as compose's.
  t.equal(find('ConfigMap', 'pgbouncer-config').data['pgbouncer.ini'].trim(), read('deploy/pgbouncer/pgbouncer.ini').split('\n').filter((l) => !l.startsWith(';')).join('\n').trim(), 'PgBouncer: the same settings as compose\'s');

  const scrape = parse(read('deploy/prometheus/prometheus-kubernetes.yml')) as any;
  t.equal(scrape.scrape_configs[0].job_name, 'agora', 'the Kubernetes scrape job is the one the alerts expect');
});

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
t.test('promtool checks the compose scrape configuration', { skip: !has('promtool') && 'promtool is not installed' }, async (t) => {
  const result = spawnSync('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'], { cwd: projectRoot, encoding: 'utf8' });
  t.equal(result.status, 0, result.stdout + result.stderr);
});
t.test('haproxy checks its configuration', { skip: !has('haproxy') && 'haproxy is not installed' }, async (t) => {
  const result = spawnSync('haproxy', ['-c', '-f', 'deploy/haproxy/haproxy.cfg'], { cwd: projectRoot, encoding: 'utf8' });
  t.equal(result.status, 0, result.stdout + result.stderr);
});
