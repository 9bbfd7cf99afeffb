// The docs page as a reader sees it: opened in headless Chromium (Debian's `chromium`), after
// Scalar's script has rendered it, not only the HTML the server sends. Outside CI a machine
// without chromium skips this file with a message; in CI (CI=true) chromium must be there
// (.ci/run installs it).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startAgora } from './helpers/agora.ts';

const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
// Three renders in a real browser, each a few seconds alone and many times that on a busy machine.
t.setTimeout(600_000);

function run(file: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const available = (await run(CHROMIUM, ['--version'], 30_000)).code === 0;
if (!available && process.env.CI !== 'true') {
  t.plan(0, `skipped: ${CHROMIUM} is not installed (apt-get install chromium), so the docs page is not checked in a browser`);
} else {
  const agora = await startAgora(t);
  const profile = await mkdtemp(join(tmpdir(), 'agora-chromium-'));
  t.teardown(() => rm(profile, { recursive: true, force: true }));

  /** The DOM once the page's scripts have run (virtual time lets them finish without sleeping). */
  async function renderedDom(path: string): Promise<string> {
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      '--window-size=1400,1000',
      '--virtual-time-budget=20000',
      '--dump-dom',
      `${agora.origin}${path}`,
    ];
    const result = await run(CHROMIUM, args, 200_000);
    if (result.code !== 0) throw new Error(`chromium failed (${result.code}): ${result.stderr.slice(-2000)}`);
    return result.stdout;
  }

  /** The text a reader sees: the DOM without scripts, styles and tags. */
  function visibleText(dom: string): string {
    return dom
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<script[\s\S]*?<\/script>/g, ' ')
      .replace(/<style[\s\S]*?<\/style>/g, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&nbsp;/g, ' ')
      .replace(/\s+/g, ' ');
  }

  t.test('the docs page, rendered in Chromium, is Agora\'s', async (t) => {
    const dom = await renderedDom('/docs/');
    const title = /<title>([^<]*)<\/title>/.exec(dom)?.[1];
    t.equal(title, 'Agora API reference', "the title is Agora's");
    t.match(dom, /<meta name="description" content="[^"]*Agora/, "Agora's own description");
    // The footer's "Powered by Scalar" link stays in the DOM, hidden by our stylesheet: check the
    // rule is on the page, then read the page without what it hides.
    t.match(dom, /\.darklight-reference a\[href\*="scalar\.com"\] \{ display: none; \}/, 'the vendor link is hidden');
    const text = visibleText(dom.replace(/<a [^>]*href="https:\/\/scalar\.com[^"]*"[^>]*>[\s\S]*?<\/a>/g, ' '));
    t.notMatch(text, /Scalar/, "the vendor's name is nowhere else on the page");
    t.match(text, /Agora API v1 .*Introduction .*API .*accounts .*sessions .*friends .*channels .*posts .*Discovery/, 'the sidebar: the resources, then the OPTIONS operations grouped apart');
    for (const upsell of ['Generate SDK', 'Deploy', 'Ask AI', 'Open API Client', 'MCP']) {
      t.notOk(text.includes(upsell), `no "${upsell}"`);
    }
    t.match(text, /412 precondition-failed/, "the problem-type table is there, a row per type");
  });

  t.test('the version switcher shows v2', async (t) => {
    const text = visibleText(await renderedDom('/docs/?api=v2'));
    t.match(text, /Agora API v2/, 'v2 is the version in view');
    t.match(text, /What changed from version 1/, "v2's own description");
    t.match(text, /http:\/\/127\.0\.0\.1:\d+\/v2/, 'its server is /v2');
  });

  t.test('what the page reads: SDK examples, If-Match with a real ETag, OPTIONS apart', async (t) => {
    const v1 = (await (await fetch(`${agora.origin}/docs/v1/openapi.json`)).json()) as any;
    const update = v1.paths['/posts/{postId}'].patch;
    const sample: string = update['x-codeSamples'][0].source;
    t.match(sample, /import \{ createAgoraClient, ifMatch, unwrap \} from 'agora-sdk';/);
    t.match(sample, /const current = await unwrap\(agora\.GET\('\/posts\/\{postId\}'/, 'the ETag comes from reading the post');
    t.match(sample, /'If-Match': ifMatch\(current\.version\)/);
    t.equal(v1.components.parameters.IfMatchRequired.example, '"3"', 'the If-Match example is an ETag, not empty');
    t.match(v1.components.parameters.IfMatchRequired.description, /ETag/);
    t.same(v1.paths['/posts/{postId}'].options.tags, ['allowed methods']);
    t.same(v1['x-tagGroups'].map((g: { name: string }) => g.name), ['API', 'Discovery']);
    for (const [path, item] of Object.entries(v1.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(item)) {
        if (operation?.operationId) t.ok(operation['x-codeSamples']?.[0]?.source.includes(`agora.${method.toUpperCase()}('${path}'`), `${method} ${path} has an SDK example`);
      }
    }
    const served = (await (await fetch(`${agora.origin}/openapi.json`)).json()) as any;
    t.notOk(served.paths['/posts/{postId}'].patch['x-codeSamples'], '/openapi.json stays the contract as written');
    const v2 = (await (await fetch(`${agora.origin}/docs/v2/openapi.json`)).json()) as any;
    const [sdk, plain] = v2.paths['/feed'].get['x-codeSamples'];
    t.match(sdk, { label: 'agora-sdk', source: /const agora = createAgoraV2Client\(/ }, "v2's SDK example uses the v2 client");
    t.match(plain, { label: 'fetch', source: /fetch\(`\$\{base\}\/feed`/ }, 'and a fetch example follows');
  });
}
