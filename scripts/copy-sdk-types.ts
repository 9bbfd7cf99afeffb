// The SDK ships its own copy of the generated types (it is published without this repo).
// `--check` fails when the copy is stale.
import { readFileSync, writeFileSync } from 'node:fs';

const source = new URL('../generated/api.d.ts', import.meta.url);
const target = new URL('../sdk/src/api.ts', import.meta.url);
const expected = `// Generated from openapi.yaml by \`npm run generate\`; do not edit.\n${readFileSync(source, 'utf8')}`;

if (process.argv.includes('--check')) {
  let actual = '';
  try {
    actual = readFileSync(target, 'utf8');
  } catch {}
  if (actual !== expected) {
    console.error('sdk/src/api.ts is stale: run `npm run generate` and commit the result.');
    process.exit(1);
  }
  console.log('sdk/src/api.ts matches generated/api.d.ts');
} else {
  writeFileSync(target, expected);
}
