// Writes a migration for whatever the entities describe that the committed migrations do not.
// Run it against a database that has every committed migration applied (it applies them first).
// The new file is not run until its domain's descriptor lists it (src/domains/<domain>.ts).
import { migrate } from '../src/persistence/migrations.ts';
import { withDatabase } from './database.ts';

await withDatabase(async (orm) => {
  await migrate(orm);
  const result = await orm.migrator.create();
  if (!result.fileName) console.log('entities and migrations agree: nothing to write');
  // A migration runs only once a domain lists it (test/unit-domains.test.ts fails until then).
  else console.log(`wrote ${result.fileName}: add it to the migrations of its domain in src/domains/<domain>.ts`);
});
