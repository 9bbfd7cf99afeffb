// Measures how many bytes of each read outlive V8's young generation, in a process of its own
// (test/sql.test.ts runs it): the test runner's own bookkeeping of promises keeps their results
// past the young generation's collections, whatever the code under test does.
//
//   node test/helpers/young-rows-probe.ts <database url> <author id>
//     reads that author's page of posts, on the pool, in units of work and in transactions of the
//     job queue's pg-boss (as a job's handler reads), and prints
//     {"pool": bytes, "unitOfWork": bytes, "jobTransaction": bytes, "rows": n}, per statement
import { Session } from 'node:inspector/promises';
import { PgBoss } from 'pg-boss';
import { connectionOptions } from '../../src/jobs/queue.ts';
import { persistence } from '../../src/domains/index.ts';
import { openDatabase } from '../../src/persistence/orm.ts';
import { PostsStore } from '../../src/persistence/posts/index.ts';
import { createDatabase } from '../../src/persistence/sql.ts';
import { collectYoungGarbage } from './gc.ts';

const [url, authorId] = process.argv.slice(2) as [string, string];
const orm = await openDatabase({ clientUrl: url, persistence, poolMax: 4, onQuery: () => {} });
const db = createDatabase(orm);
const posts = new PostsStore(db);

const page = () => posts.list({ of: { authorId }, newestFirst: true, limit: 21 });
const pageSql = 'select id, text, created_at, updated_at from posts.post where author_id = $1 order by created_at desc limit 21';
const inUnitOfWork = () => db.transaction((uow) => uow.query(pageSql, [authorId]));
// pg-boss's own pool, as the job queue configures it: a job's transaction runs its statements there.
const jobs = new PgBoss(connectionOptions(url, 4)).getDb() as unknown as {
  open(): Promise<void>;
  close(): Promise<void>;
  beginTransaction(): Promise<{ db: { executeSql(sql: string, values: unknown[]): Promise<{ rows: unknown[] }> }; commit(): Promise<void>; rollback(): Promise<void> }>;
};
await jobs.open();
const inJobTransaction = async () => {
  const tx = await jobs.beginTransaction();
  try {
    const { rows } = await tx.db.executeSql(pageSql, [authorId]);
    await tx.commit();
    return rows;
  } catch (error) {
    await tx.rollback();
    throw error;
  }
};

/** Reads `n` pages, three at a time; returns the rows read. */
async function readMany(n: number, read: () => Promise<unknown[]>): Promise<number> {
  let left = n;
  let rows = 0;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      while (left-- > 0) {
        const got = await read();
        rows += got.length;
      }
    }),
  );
  return rows;
}

const N = 1500;
const session = new Session();
session.connect();
/** Bytes per statement that V8's sampling heap profiler saw outlive the young generation's collections. */
async function outliving(read: () => Promise<unknown[]>): Promise<{ bytes: number; rows: number }> {
  await readMany(300, read);
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
  const rows = await readMany(N, read);
  // What died since the young generation's last collection would otherwise count as outliving it.
  collectYoungGarbage();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  let bytes = 0;
  const walk = (node: { selfSize: number; children: (typeof node)[] }) => {
    bytes += node.selfSize;
    node.children.forEach(walk);
  };
  walk(profile.head as never);
  return { bytes: Math.round(bytes / N), rows };
}

const pool = await outliving(page);
const unitOfWork = await outliving(inUnitOfWork);
const jobTransaction = await outliving(inJobTransaction);
session.disconnect();
await jobs.close();
await orm.close(true);
console.log(JSON.stringify({ pool: pool.bytes, unitOfWork: unitOfWork.bytes, jobTransaction: jobTransaction.bytes, rows: (pool.rows + unitOfWork.rows + jobTransaction.rows) / (3 * N) }));
