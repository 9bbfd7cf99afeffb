// The breaking-change gate (`npm run lint:contract`, scripts/contract.ts): each fixture is the
// released v1 document with one change, compared by the real oasdiff. Breaking changes fail
// with a message naming the operation and the field; compatible ones pass. No server, no database.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { stringify } from 'yaml';
import {
  breakingChanges, breakingFindings, changelogVersions, checkReleases, describe, formatChanges, gateDocument,
  readDocument, releasesOf, type Json,
} from '../scripts/contract.ts';

// About forty oasdiff runs of a second each on an idle machine: room for a busy one.
t.setTimeout(600_000);

const released = releasesOf(1).at(-1);
if (!released) throw new Error('no release of v1 in releases/v1');
const base = readDocument(released.file);

/** The released document with one change made by `change`. */
function changed(change: (document: Json, schemas: Json) => void): Json {
  const document = structuredClone(base);
  change(document, document.components.schemas);
  return document;
}

async function messages(revision: Json): Promise<string[]> {
  return (await breakingChanges(base, revision)).map(describe);
}

t.test('the release is compatible with itself', async (t) => {
  t.same(await messages(base), []);
});

t.test('the three cases of the contract issue', async (t) => {
  t.test('removing updatedAt from Post fails, naming the field and each operation that returns it', async (t) => {
    const found = await messages(
      changed((_, s) => {
        delete s.Post.properties.updatedAt;
        s.Post.required = s.Post.required.filter((p: string) => p !== 'updatedAt');
      }),
    );
    t.ok(found.length > 0);
    t.ok(found.every((m) => m.includes('`updatedAt`') || m.includes('`data/items/updatedAt`')), found.join('\n'));
    for (const where of ['GET /posts/{postId}', 'PATCH /posts/{postId}', 'POST /posts', 'GET /feed']) {
      t.ok(found.some((m) => m.startsWith(`${where}: `)), `names ${where}`);
    }
  });

  t.test('a new required title in NewPost fails, naming the field', async (t) => {
    const found = await messages(
      changed((_, s) => {
        s.NewPost.properties.title = { type: 'string', minLength: 1, maxLength: 100 };
        s.NewPost.required = [...(s.NewPost.required ?? []), 'title'];
      }),
    );
    t.ok(found.some((m) => m.startsWith('POST /posts: ') && m.includes('`title`') && m.includes('[new-required-request-property]')), found.join('\n'));
  });

  t.test('a new optional response field passes', async (t) => {
    t.same(await messages(changed((_, s) => (s.Post.properties.pinned = { type: 'boolean' }))), []);
  });
});

// One fixture per kind of breaking change the issue names; each must fail naming what is expected.
const breaking: [string, (d: Json, s: Json) => void, RegExp][] = [
  // Channels, not posts: v1's posts operations are deprecated (v2 replaces them).
  ['a removed operation', (d) => delete d.paths['/channels/{channelId}'].delete, /^DELETE \/channels\/\{channelId\}: .*\[api-removed-without-deprecation\]/],
  ['a retyped response field', (_, s) => (s.Post.properties.version = { type: 'string' }), /^GET \/posts\/\{postId\}: .*`version`.*\[response-property-type-changed\]/],
  ['a removed optional response field', (_, s) => delete s.Problem.properties.currentVersion, /^PATCH \/posts\/\{postId\}: .*`currentVersion`.*\[response-optional-property-removed\]/],
  ['a new required query parameter', (d) => d.paths['/feed'].get.parameters.push({ name: 'mode', in: 'query', required: true, schema: { type: 'string' } }), /^GET \/feed: .*`mode`/],
  ['a request property removed (unknown ones are rejected)', (_, s) => delete s.AccountPatch.properties.bio, /^PATCH \/accounts\/\{accountId\}: .*`bio`.*\[request-property-removed\]/],
  ['a query parameter removed (unknown ones are rejected)', (d) => (d.paths['/feed'].get.parameters = d.paths['/feed'].get.parameters.slice(0, -1)), /^GET \/feed: .*\[request-parameter-removed\]/],
  ['a narrowed enum', (_, s) => (s.Visibility.enum = ['public']), /^POST \/channels: .*`private`.*`visibility`.*\[request-property-enum-value-removed\]/],
  ['a new value in a response enum', (_, s) => s.Visibility.enum.push('secret'), /^GET \/channels\/\{channelId\}: .*`secret`.*\[response-property-enum-value-added\]/],
  ['a format set on a request field', (_, s) => (s.Handle.format = 'hostname'), /^POST \/accounts: .*`handle`.*\[request-property-type-changed\]/],
  ['a changed format on a response field', (_, s) => (s.Timestamp.format = 'date'), /^components\.schemas\.Timestamp: format changed from `date-time` to `date` \[format-changed\]/],
  ['a tightened maxLength', (_, s) => (s.PostText.maxLength = 280), /^POST \/posts: .*`text`.*maxLength.*\[request-property-max-length-decreased\]/],
  ['a tightened minLength', (_, s) => (s.PostText.minLength = 5), /^POST \/posts: .*`text`.*minLength.*\[request-property-min-length-increased\]/],
  ['a tightened pattern', (_, s) => (s.Handle.pattern = '^[a-z]+$'), /^POST \/accounts: .*`handle`.*\[request-property-pattern-changed\]/],
  ['a limit on the body where there was none', (_, s) => (s.NewPost.maxProperties = 1), /^POST \/posts: set maxProperties `1` on the request body \[request-maxProperties-set\]/],
  ['a tightened query parameter maximum', (d) => (d.components.parameters.Limit.schema.maximum = 10), /^GET \/feed: .*`limit`.*\[request-parameter-max-decreased\]/],
  [
    'a changed success status',
    (d) => {
      const r = d.paths['/posts'].post.responses;
      r['200'] = r['201'];
      delete r['201'];
    },
    /^POST \/posts: .*`201`.*\[response-success-status-removed\]/,
  ],
  [
    'a changed error status',
    (d) => {
      const r = d.paths['/posts/{postId}'].patch.responses;
      r['409'] = r['412'];
      delete r['412'];
    },
    /^PATCH \/posts\/\{postId\}: .*`412`.*\[response-non-success-status-removed\]/,
  ],
  ['a removed response header', (d) => delete d.paths['/posts'].post.responses['201'].headers.ETag, /^POST \/posts: .*`ETag`/],
  ['credentials required where they were not', (d) => (d.paths['/accounts'].post.security = [{ bearerAuth: [] }]), /^POST \/accounts: .*`bearerAuth`.*\[api-security-added\]/],
  ['credentials required by dropping `security: []`', (d) => delete d.paths['/accounts'].post.security, /^POST \/accounts: callers without credentials are now refused \(security\) \[security-required\]/],
];

t.test('breaking changes fail, naming what breaks', async (t) => {
  for (const [name, change, expected] of breaking) {
    const found = await messages(changed(change));
    t.ok(found.some((m) => expected.test(m)), `${name}: ${expected}\n${found.slice(0, 5).join('\n')}`);
  }
});

const compatible: [string, (d: Json, s: Json) => void][] = [
  ['a new optional request property', (_, s) => (s.NewPost.properties.pinned = { type: 'boolean' })],
  ['a new optional query parameter', (d) => d.paths['/feed'].get.parameters.push({ name: 'mode', in: 'query', schema: { type: 'string', enum: ['a', 'b'] } })],
  ['a new operation', (d) => (d.paths['/posts/{postId}'].put = structuredClone(d.paths['/posts/{postId}'].patch)) && (d.paths['/posts/{postId}'].put.operationId = 'replacePost')],
  ['a new path', (d) => (d.paths['/status'] = structuredClone(d.paths['/feed']))],
  ['a new error status', (d) => (d.paths['/posts'].post.responses['403'] = { $ref: '#/components/responses/Forbidden' })],
  ['a request parameter limit relaxed', (d) => (d.components.parameters.Limit.schema.maximum = 200)],
  ['a request property made optional', (_, s) => (s.NewAccount.required = s.NewAccount.required.filter((p: string) => p !== 'bio'))],
  ['a response-only enum narrowed', (_, s) => (s.Member.properties.role = { ...s.Member.properties.role, enum: ['owner'] })],
  ['new descriptions, summaries, examples and links', (d, s) => {
    d.info.description = 'Rewritten.';
    d.paths['/posts'].post.summary = 'Write a post';
    s.PostText.examples = ['Hello'];
    delete d.paths['/posts'].post.responses['201'].links;
  }],
  ['a minor version', (d) => (d.info.version = '1.1.0')],
];

t.test('a removed operation fails even when it was deprecated first (removal waits for the next major)', async (t) => {
  const deprecated = changed((d) => (d.paths['/channels/{channelId}'].delete.deprecated = true));
  const removed = changed((d) => delete d.paths['/channels/{channelId}'].delete);
  const found = (await breakingChanges(deprecated, removed)).map(describe);
  t.ok(found.some((m) => /^DELETE \/channels\/\{channelId\}: .*\[api-removed-with-deprecation\]/.test(m)), found.join('\n'));
});

// Limits the release does not have yet: the fixture's base is the release with the limit relaxed.
t.test('limits set where there were none fail', async (t) => {
  const unlimited = changed((_, s) => delete s.PostText.maxLength);
  const found = (await breakingChanges(unlimited, base)).map(describe);
  t.ok(found.some((m) => /^POST \/posts: .*`text`.*\[request-property-max-length-set\]/.test(m)), found.join('\n'));

  const withTags = (maxItems: number) =>
    changed((_, s) => (s.NewPost.properties.tags = { type: 'array', items: { type: 'string' }, maxItems }));
  const tightened = (await breakingChanges(withTags(10), withTags(5))).map(describe);
  t.ok(tightened.includes('POST /posts: decreased maxItems of the request property `tags` from `10` to `5` [request-maxItems-tightened]'), tightened.join('\n'));
  t.same((await breakingChanges(withTags(5), withTags(10))).map(describe), [], 'relaxed');
});

t.test('compatible changes pass', async (t) => {
  for (const [name, change] of compatible) {
    t.same(await messages(changed(change)), [], name);
  }
});

t.test('gateDocument compares with the latest release of the same major', async (t) => {
  const v1 = { document: 'openapi.yaml', major: 1 };
  const ok = await gateDocument(v1, base);
  t.equal(ok.against, released.version);
  t.same(ok.problems, []);

  const broken = await gateDocument(v1, changed((_, s) => delete s.Post.properties.updatedAt));
  t.ok(broken.problems.some((p) => p.includes('`updatedAt`')));

  for (const version of ['0.9.0', '2.0.0']) {
    const elsewhere = await gateDocument(v1, changed((d) => (d.info.version = version)));
    t.match(elsewhere.problems, [new RegExp(`info.version ${version} is not a 1.x version`)], 'a major is not left by changing the version');
  }

  const v2Release = releasesOf(2).at(-1);
  const v2 = await gateDocument({ document: 'openapi-v2.yaml', major: 2 }, readDocument(new URL('../openapi-v2.yaml', import.meta.url)));
  t.equal(v2.against, v2Release?.version, 'v2 is compared with the latest release of v2');
  t.same(v2.problems, [], 'another major is not held to v1 (v2 drops /feed\'s page numbers)');

  const v3 = await gateDocument({ document: 'openapi-v3.yaml', major: 3 }, changed((d) => {
    d.info.version = '3.0.0';
    delete d.paths['/feed'];
  }));
  t.same(v3.problems, [], 'a major with no release yet is held to nothing');
  t.match(v3.notes, [/no release of v3 yet/]);

  const bad = await gateDocument(v1, changed((d) => (d.info.version = 'v1')));
  t.match(bad.problems, [/info.version "v1" is not MAJOR.MINOR.PATCH/]);
});

t.test('a version older than the latest release of its major fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agora-releases-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'v1'));
  writeFileSync(join(dir, 'v1', 'openapi-1.2.0.yaml'), stringify({ ...base, info: { ...base.info, version: '1.2.0' } }));
  const releases = pathToFileURL(`${dir}/`);
  const result = await gateDocument({ document: 'openapi.yaml', major: 1 }, changed((d) => (d.info.version = '1.1.0')), releases);
  t.equal(result.against, '1.2.0');
  t.match(result.problems, [/info.version 1.1.0 is older than the latest release 1.2.0/]);
});

t.test('releases are where their version says and have a changelog entry', async (t) => {
  t.same(checkReleases(), [], 'the repository\'s releases');
  const dir = mkdtempSync(join(tmpdir(), 'agora-releases-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'v1'));
  writeFileSync(join(dir, 'v1', 'openapi-1.0.0.yaml'), stringify({ info: { version: '1.0.0' } }));
  writeFileSync(join(dir, 'v1', 'openapi-1.1.0.yaml'), stringify({ info: { version: '1.0.0' } }));
  writeFileSync(join(dir, 'v1', 'openapi-2.0.0.yaml'), stringify({ info: { version: '2.0.0' } }));
  writeFileSync(join(dir, 'CHANGELOG.md'), '# Changelog\n\n## 1.0.0 (2026-12-02)\n\nFirst.\n');
  const problems = checkReleases(pathToFileURL(`${dir}/`), pathToFileURL(join(dir, 'CHANGELOG.md')));
  t.same(problems.sort(), [
    'releases/v1/openapi-1.1.0.yaml: its info.version is "1.0.0"',
    'releases/v1/openapi-1.1.0.yaml: no "## 1.1.0" entry in releases/CHANGELOG.md',
    'releases/v1/openapi-2.0.0.yaml: not openapi-1.MINOR.PATCH.yaml',
  ]);
});

t.test('oasdiff findings become messages: WARN and ERR only', async (t) => {
  const findings = breakingFindings([
    { id: 'response-required-property-removed', text: 'removed the required property `updatedAt`', level: 3, operation: 'GET', path: '/posts/{postId}' },
    { id: 'request-parameter-removed', text: 'deleted the `query` request parameter `page`', level: 2, operation: 'GET', path: '/feed' },
    { id: 'response-optional-property-added', text: 'added the optional property `pinned`', level: 1, operation: 'GET', path: '/posts/{postId}' },
  ]);
  t.same(findings.map(describe), [
    'GET /posts/{postId}: removed the required property `updatedAt` [response-required-property-removed]',
    'GET /feed: deleted the `query` request parameter `page` [request-parameter-removed]',
  ]);
});

t.test('formatChanges matches parameters by name, not place, and ignores examples', async (t) => {
  const a = { paths: { '/x': { get: { parameters: [
    { name: 'a', in: 'query', schema: { type: 'string', format: 'date' } },
    { name: 'b', in: 'query', schema: { type: 'string', format: 'uuid' } },
  ] } } }, components: { schemas: { S: { examples: [{ format: 'x' }] } } } };
  const b = structuredClone(a);
  b.paths['/x'].get.parameters.reverse();
  b.components.schemas.S.examples = [{ format: 'y' }];
  t.same(formatChanges(a, b), []);
  b.paths['/x'].get.parameters[0]!.schema.format = 'date-time';
  t.same(formatChanges(a, b).map(describe), ['paths./x.get.parameters.query.b.schema: format changed from `uuid` to `date-time` [format-changed]']);
});

t.test('changelog entries are found by their heading', async (t) => {
  t.same([...changelogVersions('# C\n\n## 1.1.0 (2026-12-03)\n\n## [1.0.0]\n### 0.9.0\n')], ['1.1.0', '1.0.0']);
});
