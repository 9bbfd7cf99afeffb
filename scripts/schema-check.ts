// CI guard: migrates an empty database from scratch and fails when the entities describe a
// schema that the committed migrations do not produce.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.ts';
import { persistence } from '../src/domains/index.ts';
import { migrate, schemaDiffersFromMigrations } from '../src/persistence/migrations.ts';
import { openDatabase } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres } from '../src/persistence/embedded-postgres.ts';
// The tests' and the bench's own free-port helper: a port the system has free now.
import { freePort } from '../test/helpers/postgres.ts';

const config = loadConfig();
const scratch = `agora_schema_check_${randomBytes(4).toString('hex')}`;
let adminUrl: string;
let scratchUrl: string;
let stop = async () => {};
if (config.databaseUrl) {
  adminUrl = config.databaseUrl;
  const url = new URL(config.databaseUrl);
  url.pathname = `/${scratch}`;
  scratchUrl = url.toString();
  const admin = await openDatabase({ clientUrl: adminUrl, poolMax: 1, persistence });
  await admin.em.getConnection().execute(`create database "${scratch}"`);
  stop = async () => {
    await admin.em.getConnection().execute(`drop database if exists "${scratch}"`);
    await admin.close(true);
  };
} else {
  // A port the system has free now, not a fixed one: CI runs beside other work, whose PostgreSQL
  // (an instance's embedded one, another checkout's check) may hold any fixed port.
  const embedded = await startEmbeddedPostgres({ dataDir: `${config.dataDir}/schema-check-pg`, port: await freePort(), database: scratch });
  scratchUrl = embedded.url;
  stop = async () => embedded.stop();
}

const orm = await openDatabase({ clientUrl: scratchUrl, persistence });
let differs = true;
try {
  const ran = await migrate(orm);
  console.log(`applied ${ran.length} migration(s) to an empty database`);
  differs = await schemaDiffersFromMigrations(orm);
  if (differs) {
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    console.error('The entities and the migrations disagree. Run `npm run migration:create` and commit the result.\n');
    console.error(diff);
  } else {
    console.log('schema check: entities and migrations agree');
  }
} finally {
  await orm.close(true);
  await stop();
}
process.exitCode = differs ? 1 : 0;
