// The docs page's examples work as shown: every TypeScript example the page offers (agora-sdk's
// v1 or v2 client, and fetch; src/http/docs-document.ts) is compiled against the SDK and Node's types,
// so an example with a wrong path, a missing parameter or a body of the wrong shape fails here.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { docsDocument } from '../src/http/docs-document.ts';
import { operationsOf } from '../src/http/conventions.ts';
import { loadSpec, specV2Path } from '../src/http/spec.ts';

t.setTimeout(300_000);

const root = new URL('..', import.meta.url).pathname;
// Inside the project, so that `agora-sdk` and @types/node resolve as they would for a user.
const dir = await mkdtemp(join(root, 'test', '.samples-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const files: string[] = [];
for (const [name, document] of [
  ['v1', docsDocument(loadSpec().document, { prefix: '/v1', client: 'createAgoraClient' })],
  ['v2', docsDocument(loadSpec(specV2Path).document, { prefix: '/v2', client: 'createAgoraV2Client' })],
] as const) {
  for (const { operationId, operation } of operationsOf(document)) {
    const samples = operation['x-codeSamples'] as { label: string; source: string }[];
    if (samples.map((x) => x.label).join() !== 'agora-sdk,fetch') throw new Error(`${name} ${operationId}: samples ${samples.map((x) => x.label)}`);
    for (const sample of samples) {
      const file = join(dir, `${name}-${operationId}-${sample.label}.ts`);
      await writeFile(file, `${sample.source}\nexport {};\n`);
      files.push(file);
    }
  }
}

t.test('every example compiles', async (t) => {
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2024', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2024', 'DOM'], types: ['node'], strict: true, noEmit: true, skipLibCheck: true },
      files,
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await new Promise<{ code: number; output: string }>((resolve) =>
    execFile(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, output: `${stdout}${stderr}` }),
    ),
  );
  t.equal(result.output.replaceAll(dir, ''), '', 'no compile errors');
  t.equal(result.code, 0);
  t.ok(files.length > 80, `${files.length} examples`);
});
