// Preloaded with `--import` into a server process: appends the URL of every module the process
// loads, a line each, to the file AGORA_TEST_MODULES_FILE names (test/optional-modules.test.ts).
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.AGORA_TEST_MODULES_FILE;
if (!file) throw new Error('record-modules: AGORA_TEST_MODULES_FILE is not set');

registerHooks({
  load(url, context, nextLoad) {
    appendFileSync(file, `${url}\n`);
    return nextLoad(url, context);
  },
});
