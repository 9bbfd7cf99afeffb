// The SDK ships its own copy of the generated types (it is published without this repo), and
// the list of operations that honour Idempotency-Key, which it needs at run time to send keys.
// `--check` fails when either is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const HEADER = '// Generated from openapi.yaml by `npm run generate`; do not edit.\n';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function idempotentOperations(): string[] {
  const document = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, any>> };
  const found: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      if (item[method]?.['x-idempotent'] === true) found.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return found.sort();
}

const files = [
  {
    target: new URL('../sdk/src/api.ts', import.meta.url),
    expected: `${HEADER}${readFileSync(new URL('../generated/api.d.ts', import.meta.url), 'utf8')}`,
  },
  {
    target: new URL('../sdk/src/idempotent.ts', import.meta.url),
    expected:
      HEADER +
      '\n/** The operations marked `x-idempotent: true`, as `METHOD /path`: they take an Idempotency-Key. */\n' +
      `export const idempotentOperations: ReadonlySet<string> = new Set([\n${idempotentOperations().map((o) => `  '${o}',\n`).join('')}]);\n`,
  },
];

if (process.argv.includes('--check')) {
  let stale = false;
  for (const { target, expected } of files) {
    let actual = '';
    try {
      actual = readFileSync(target, 'utf8');
    } catch {}
    if (actual !== expected) {
      console.error(`${target.pathname.replace(/.*\/sdk\//, 'sdk/')} is stale: run \`npm run generate\` and commit the result.`);
      stale = true;
    }
  }
  if (stale) process.exit(1);
  console.log('the SDK\'s generated files match openapi.yaml');
} else {
  for (const { target, expected } of files) writeFileSync(target, expected);
}
