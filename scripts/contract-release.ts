// `npm run release:contract [-- openapi-v2.yaml]`: keeps the document (openapi.yaml by default)
// as the release its `info.version` names, bundled into one self-contained file at
// releases/v<major>/openapi-<version>.yaml. Refuses a version that is already released or not
// newer than the latest release of its major, a document that breaks a client of that release,
// and a version without its "## <version>" entry in releases/CHANGELOG.md (it prints the changes
// since the latest release, to write that entry from).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHANGELOG, CONTRACTS, ROOT, breakingChanges, changelogLines, changelogVersions, compareVersions, describe,
  parseVersion, readDocument, releaseFile, releasesOf,
} from './contract.ts';

function fail(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(1);
}

const name = process.argv[2] ?? 'openapi.yaml';
const contract = CONTRACTS.find((c) => c.document === name);
if (!contract) fail(`${name} is not a contract document (${CONTRACTS.map((c) => c.document).join(', ')}; see scripts/contract.ts)`);
const document = readDocument(new URL(name, ROOT));
const version: string = document.info?.version;
const major = contract.major;
try {
  if (parseVersion(version)[0] !== major) fail(`${name}: info.version ${version} is not a ${major}.x version`);
} catch (error) {
  fail(`${name}: ${(error as Error).message}`);
}
const target = releaseFile(version);
const shown = fileURLToPath(target).slice(fileURLToPath(ROOT).length);
if (existsSync(target)) fail(`${version} is already released (${shown}); raise info.version in ${name} first`);

const latest = releasesOf(major).at(-1);
if (latest) {
  if (compareVersions(version, latest.version) <= 0) {
    fail(`info.version ${version} is not newer than the latest release ${latest.version}`);
  }
  const breaking = await breakingChanges(readDocument(latest.file), document);
  if (breaking.length > 0) {
    fail(`${name} breaks clients of ${latest.version}:\n${breaking.map((b) => `  - ${describe(b)}`).join('\n')}`);
  }
}

if (!changelogVersions(existsSync(CHANGELOG) ? readFileSync(CHANGELOG, 'utf8') : '').has(version)) {
  const changes = latest ? await changelogLines(readDocument(latest.file), document) : [];
  const since = latest
    ? `Changes since ${latest.version}:\n${changes.map((c) => `  - ${c}`).join('\n') || '  (none that oasdiff reports)'}`
    : `This is the first release of v${major}.`;
  fail(`releases/CHANGELOG.md has no "## ${version}" entry: write one, then run this again.\n${since}`);
}

mkdirSync(new URL('./', target), { recursive: true });
execFileSync(fileURLToPath(new URL('node_modules/.bin/redocly', ROOT)), ['bundle', name, '--output', shown], {
  cwd: ROOT,
  // This script's Node (the project's) for redocly too, whatever `node` is first on PATH.
  env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (readDocument(target).info?.version !== version) fail(`${shown} was written without info.version ${version}`);
console.log(`✓ released ${name} ${version} as ${shown}`);
