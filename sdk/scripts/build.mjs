// Builds dist/ (ES modules, with types) and dist/cjs/ (CommonJS, with types) from src/.
// Plain JavaScript so that it runs on any Node the package supports.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const here = new URL('..', import.meta.url);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(new URL('dist', here), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', new URL(project, here).pathname], { stdio: 'inherit' });
}
// dist/cjs/*.js are CommonJS although the package is "type": "module".
writeFileSync(new URL('dist/cjs/package.json', here), '{\n  "type": "commonjs"\n}\n');
