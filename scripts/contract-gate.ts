// `npm run lint:contract`: fails, naming each one, on any change in a contract document that
// breaks a client of the latest release of its major version (see scripts/contract.ts and the
// README's "Contract releases"), and on releases that are misplaced or missing their changelog entry.
import { CONTRACTS, ROOT, checkReleases, gateDocument, readDocument } from './contract.ts';

let failed = false;
const releaseProblems = checkReleases();
for (const problem of releaseProblems) console.error(`✗ ${problem}`);
failed ||= releaseProblems.length > 0;

for (const contract of CONTRACTS) {
  const name = contract.document;
  const result = await gateDocument(contract, readDocument(new URL(name, ROOT)));
  for (const note of result.notes) console.log(`· ${note}`);
  if (result.problems.length === 0) {
    if (result.against) console.log(`✓ ${name}: nothing breaks a client of release ${result.against}`);
    continue;
  }
  failed = true;
  const against = result.against ? `, against release ${result.against}` : '';
  console.error(`✗ ${name}${against}:`);
  for (const problem of result.problems) console.error(`  - ${problem}`);
}
if (failed) {
  console.error(
    '\nA breaking change needs a new major version (a new document and release line), not a change to this one.',
  );
  process.exit(1);
}
