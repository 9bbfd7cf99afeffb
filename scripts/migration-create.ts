// Writes a migration for whatever the entities describe that the committed migrations do not.
// Run it against a database that has every committed migration applied (it applies them first).
import { migrate } from '../src/persistence/migrations.ts';
import { withDatabase } from './database.ts';

await withDatabase(async (orm) => {
  await migrate(orm);
  const result = await orm.migrator.create();
  console.log(result.fileName ? `wrote ${result.fileName}` : 'entities and migrations agree: nothing to write');
});
