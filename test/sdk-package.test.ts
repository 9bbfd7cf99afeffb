// The SDK as users get it: `npm pack` gives a complete package that installs into a new
// project without the registry (its dependencies packed from this repository's node_modules),
// loads with require() on Node 20 and import on the project's Node, type-checks the quickstart
// and the v2 example under the strictest compiler settings, and runs them on Node 20 against a
// live server. The examples also run from the repository as they are documented.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startAgora } from './helpers/agora.ts';

const run = promisify(execFile);
t.setTimeout(600_000);

const repo = resolve(import.meta.dirname, '..');
const sdk = join(repo, 'sdk');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

/** The system's Node 20 (CI and this machine have it as `node` outside node_modules/.bin). */
async function findNode20(): Promise<string> {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    try {
      const { stdout } = await run(candidate, ['--version']);
      if (stdout.startsWith('v20.')) return candidate;
    } catch {}
  }
  throw new Error('no Node 20 found in /usr/bin, /usr/local/bin or /bin');
}

async function npm(args: string[], cwd: string) {
  return run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

t.test('the packed SDK installs in a new project, loads on Node 20 (require) and Node 24 (import), and its quickstart and v2 example compile and run', async (t) => {
  const node20 = await findNode20();
  const work = mkdtempSync(join(tmpdir(), 'agora-sdk-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);

  // `npm test` has just built dist/; prepack would build it again.
  const { stdout } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tarballs], sdk);
  const [packed] = JSON.parse(stdout) as [{ filename: string; version: string; files: { path: string }[] }];
  const files = packed.files.map((f) => f.path).sort();
  for (const required of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']) {
    t.ok(files.includes(required), `the package has ${required}`);
  }
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('examples/') || f.startsWith('scripts/')), 'only what users need');
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(join(sdk, file), 'utf8');
    t.notMatch(code, /\bfrom ['"]node:|require\(['"]node:|\bprocess\.|\bBuffer\b/, `${file} uses nothing Node-only (it runs in browsers)`);
  }
  const manifest = JSON.parse(readFileSync(join(sdk, 'package.json'), 'utf8'));
  const contract = /^info:\n(?:\s+.*\n)*?\s+version: (\S+)/m.exec(readFileSync(join(repo, 'openapi.yaml'), 'utf8'));
  t.equal(packed.version, contract?.[1], "the package's version is the contract's");
  t.equal(manifest.engines.node, '>=20');

  // Its dependencies as tarballs too, so that the install needs no registry.
  const dependencies = ['openapi-fetch', 'openapi-typescript-helpers'];
  const dependencyTarballs: string[] = [];
  for (const name of dependencies) {
    const out = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tarballs, join(repo, 'node_modules', name)], repo);
    dependencyTarballs.push(join(tarballs, (JSON.parse(out.stdout) as [{ filename: string }])[0].filename));
  }

  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', private: true, type: 'module' }));
  await npm(['install', '--offline', '--ignore-scripts', '--cache', join(work, 'npm-cache'), join(tarballs, packed.filename), ...dependencyTarballs], project);
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/agora-sdk/package.json'), 'utf8'));
  t.equal(installed.version, packed.version);

  const agora = await startAgora(t);

  // CommonJS on Node 20: the typed errors work against a live server.
  writeFileSync(
    join(project, 'check.cjs'),
    `const { createAgoraClient, unwrap, NotFoundError, VERSION } = require('agora-sdk');
const agora = createAgoraClient({ baseUrl: process.env.AGORA_BASE_URL });
unwrap(agora.GET('/accounts/{accountId}', { params: { path: { accountId: '00000000-0000-4000-8000-000000000000' } } }))
  .then(() => { throw new Error('found'); }, (error) => {
    if (!(error instanceof NotFoundError)) throw error;
    console.log('cjs', process.version, VERSION, error.status);
  });
`,
  );
  const cjs = await run(node20, ['check.cjs'], { cwd: project, env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(cjs.stdout, new RegExp(`^cjs v20\\.\\S+ ${packed.version.replace(/\./g, '\\.')} 404$`, 'm'), 'require() on Node 20');

  // ES modules on the project's Node (24).
  writeFileSync(join(project, 'check.js'), `import { createAgoraClient, AgoraConnectionError } from 'agora-sdk';\nconsole.log('esm', process.version, typeof createAgoraClient, typeof AgoraConnectionError);\n`);
  const esm = await run(process.execPath, ['check.js'], { cwd: project });
  t.match(esm.stdout, /^esm v2[4-9]\.\S+ function function$/m, 'import on Node 24');

  // The quickstart against the installed types, under the strictest settings (and without
  // skipLibCheck, so the package's own declarations are checked too), emitted for Node 20.
  copyFileSync(join(sdk, 'examples/quickstart.ts'), join(project, 'quickstart.ts'));
  copyFileSync(join(sdk, 'examples/v2.ts'), join(project, 'v2.ts'));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noPropertyAccessFromIndexSignature: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules/@types')],
        outDir: 'build',
      },
      files: ['quickstart.ts', 'v2.ts'],
    }),
  );
  await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).catch((error: { stdout: string }) => {
    throw new Error(`the examples do not compile against the installed package:\n${error.stdout}`);
  });
  const quickstart = await run(node20, ['build/quickstart.js'], { cwd: project, env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(quickstart.stdout, /done\n$/, 'the compiled quickstart ran to its end on Node 20');
  const v2 = await run(node20, ['build/v2.js'], { cwd: project, env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(v2.stdout, /done\n$/, 'the compiled v2 example ran to its end on Node 20');
});

t.test('sdk/examples/quickstart.ts runs against a live server and exits 0', async (t) => {
  const agora = await startAgora(t);
  const { stdout } = await run(process.execPath, [join(sdk, 'examples/quickstart.ts')], { env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(stdout, /^signed up and in as @quickstart_/m);
  t.match(stdout, /^@quickstart_\w+: A third post$/m, 'the feed was paged');
  t.match(stdout, /^edited the post: version 0 → 1$/m);
  t.match(stdout, /^stale update refused; the current version is 1$/m);
  t.match(stdout, /^not found \(request \S+\)$/m);
  t.match(stdout, /done\n$/);
  const [{ posts }] = (await agora.sql(`select count(*)::int as posts from posts.post p join accounts.account a on a.id = p.author_id where a.handle like 'quickstart_%'`)) as [{ posts: number }];
  t.equal(posts, 3, 'the three posts were stored');
});

t.test('sdk/examples/resilience.ts runs against a live server and exits 0', async (t) => {
  const agora = await startAgora(t);
  const { stdout } = await run(process.execPath, [join(sdk, 'examples/resilience.ts')], { env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(stdout, /^→ GET \/v1\/accounts \(attempt 1\)$/m, 'the onRequest hook logs');
  t.match(stdout, /^← 200 GET \/v1\/accounts in \d+ ms \(\S+\)$/m, 'the onResponse hook logs');
  t.match(stdout, /^cancelled: no longer needed$/m);
  t.match(stdout, /^unreachable: GET http:\/\/127\.0\.0\.1:9\/v1\/accounts$|^timed out after/m);
  t.match(stdout, /done\n$/);
});

t.test('sdk/examples/v2.ts runs against a live server and exits 0', async (t) => {
  const agora = await startAgora(t);
  const { stdout } = await run(process.execPath, [join(sdk, 'examples/v2.ts')], { env: { ...process.env, AGORA_BASE_URL: agora.baseUrl } });
  t.match(stdout, /^signed up and in as @v2example_/m);
  t.match(stdout, /^posted 3 posts as @v2example_\w+$/m);
  t.match(stdout, /^@v2example_\w+: First through v2$/m, 'the feed was paged to its oldest post');
  t.match(stdout, /^a page of 2, next: \/v2\/accounts\/[0-9a-f-]+\/posts\?sort=createdAt&limit=2&cursor=[A-Za-z0-9_-]+$/m, 'the first page links the next');
  t.match(stdout, /^a page of 1, next: none$/m, 'the last page links none');
  t.match(stdout, /^edited the post: version 0 → 1$/m);
  t.match(stdout, /^stale update refused; the current version is 1$/m);
  t.match(stdout, /^through v1: "First through v2, edited" by me$/m);
  t.match(stdout, /^deleted through v1, not found through v2 \(request \S+\)$/m);
  t.match(stdout, /done\n$/);
  const [{ posts }] = (await agora.sql(`select count(*)::int as posts from posts.post p join accounts.account a on a.id = p.author_id where a.handle like 'v2example_%'`)) as [{ posts: number }];
  t.equal(posts, 2, 'three posted through v2, one deleted through v1');
});
