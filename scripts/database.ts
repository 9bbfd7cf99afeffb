// Opens the database a script should work on: DATABASE_URL, or the embedded server under DATA_DIR.
import { loadConfig } from '../src/config.ts';
import { persistence } from '../src/domains/index.ts';
import { openDatabase, type Orm } from '../src/persistence/orm.ts';
import { startEmbeddedPostgres } from '../src/persistence/embedded-postgres.ts';

export async function withDatabase<T>(work: (orm: Orm) => Promise<T>, databaseName = 'agora'): Promise<T> {
  const config = loadConfig();
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: `${config.dataDir}/postgres`, port: config.embeddedPostgresPort, database: databaseName });
  const orm = await openDatabase({ clientUrl: config.databaseUrl ?? embedded!.url, persistence });
  try {
    return await work(orm);
  } finally {
    await orm.close(true);
    await embedded?.stop();
  }
}
