// The SDK ships its own copy of the generated types of every version of the API (it is published
// without this repo): sdk/src/api.ts from openapi.yaml (v1), sdk/src/api-v2.ts from
// openapi-v2.yaml, and for each the list of operations that honour Idempotency-Key, which it
// needs at run time to send keys.
// Its version is the contract's `info.version` (sdk/package.json, the lock file's entry for it,
// and sdk/src/version.ts), and its README's code is taken from sdk/examples (between
// `// #region name` and `// #endregion name`, under `<!-- snippet: file.ts#name -->`).
// `--check` fails when any of these is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const header = (contract: string) => `// Generated from ${contract} by \`npm run generate\`; do not edit.\n`;
const HEADER = header('openapi.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Contract {
  info: { version: string };
  paths: Record<string, Record<string, any>>;
}
const load = (file: string) => parse(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')) as Contract;
const document = load('openapi.yaml');
const documentV2 = load('openapi-v2.yaml');
const version = document.info.version;

function idempotentOperations(contract: Contract): string[] {
  const found: string[] = [];
  for (const [path, item] of Object.entries(contract.paths)) {
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
    target: new URL('../sdk/src/api-v2.ts', import.meta.url),
    expected: `${header('openapi-v2.yaml')}${readFileSync(new URL('../generated/api-v2.d.ts', import.meta.url), 'utf8')}`,
  },
  {
    target: new URL('../sdk/src/idempotent.ts', import.meta.url),
    expected: idempotentFile(HEADER, 'idempotentOperations', document),
  },
  {
    target: new URL('../sdk/src/idempotent-v2.ts', import.meta.url),
    expected: idempotentFile(header('openapi-v2.yaml'), 'idempotentOperationsV2', documentV2),
  },
  {
    target: new URL('../sdk/src/version.ts', import.meta.url),
    expected:
      HEADER +
      '\n/** The version of the API contract (`info.version`) this SDK was generated from; the package has the same version. */\n' +
      `export const VERSION = '${version}';\n`,
  },
  withJson(new URL('../sdk/package.json', import.meta.url), (pkg) => {
    pkg.version = version;
  }),
  withJson(new URL('../package-lock.json', import.meta.url), (lock) => {
    lock.packages.sdk.version = version;
  }),
  {
    target: new URL('../sdk/README.md', import.meta.url),
    expected: withSnippets(readFileSync(new URL('../sdk/README.md', import.meta.url), 'utf8')),
  },
];

/** The module that exports as `name` the operations of `contract` that take an Idempotency-Key. */
function idempotentFile(banner: string, name: string, contract: Contract): string {
  return (
    banner +
    '\n/** The operations marked `x-idempotent: true`, as `METHOD /path`: they take an Idempotency-Key. */\n' +
    `export const ${name}: ReadonlySet<string> = new Set([\n${idempotentOperations(contract).map((o) => `  '${o}',\n`).join('')}]);\n`
  );
}

/** A JSON file as it is, with `change` applied (2-space indent, final newline, as npm writes). */
function withJson(target: URL, change: (json: any) => void) {
  const json = JSON.parse(readFileSync(target, 'utf8'));
  change(json);
  return { target, expected: `${JSON.stringify(json, null, 2)}\n` };
}

/** The README with the code block under each `<!-- snippet: file.ts#region -->` replaced by that region of sdk/examples/file.ts. */
function withSnippets(readme: string): string {
  return readme.replace(/<!-- snippet: ([\w.-]+)#([\w-]+) -->\n```ts\n[\s\S]*?```/g, (_, file: string, region: string) => {
    const source = readFileSync(new URL(`../sdk/examples/${file}`, import.meta.url), 'utf8');
    const found = new RegExp(`// #region ${region}\\n([\\s\\S]*?)// #endregion ${region}\\n`).exec(source);
    if (!found) throw new Error(`sdk/examples/${file} has no region ${region}`);
    return `<!-- snippet: ${file}#${region} -->\n\`\`\`ts\n${found[1]}\`\`\``;
  });
}

if (process.argv.includes('--check')) {
  let stale = false;
  for (const { target, expected } of files) {
    let actual = '';
    try {
      actual = readFileSync(target, 'utf8');
    } catch {}
    if (actual !== expected) {
      console.error(`${target.pathname.slice(new URL('..', import.meta.url).pathname.length)} is stale: run \`npm run generate\` and commit the result.`);
      stale = true;
    }
  }
  if (stale) process.exit(1);
  console.log("the SDK's generated files match openapi.yaml and openapi-v2.yaml");
} else {
  for (const { target, expected } of files) writeFileSync(target, expected);
}
