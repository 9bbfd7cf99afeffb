// A stream source of the tests' own: a table made by the test (once per database), read with the
// helpers a real source uses (src/persistence/stream-rows.ts) and registered with the server.
import pg from 'pg';
import type { Test } from 'tap';
import { checkedFetch, type Agora } from './agora.ts';
import { openStream, type OpenStream } from './sse.ts';
import { readStreamRows, streamTail, STREAM_COLUMNS_DDL, WAKE_STREAMS_SQL, type StreamTable } from '../../src/persistence/stream-rows.ts';
import type { Queryable } from '../../src/persistence/sql.ts';
import { LiveStreams, type StreamSource } from '../../src/services/stream/index.ts';

/** How long the test source's tail waits, at most, for older transactions of its database. */
export const TEST_TAIL_WAIT_MS = 30_000;

export const TABLE: StreamTable = { table: 'public.stream_test_event', accountColumn: 'account_id', columns: 'body' };

export interface TestSource {
  pool: pg.Pool;
  /** Adds a row for the account and wakes its streams, in one transaction; returns its seq. */
  write(accountId: string, body: string): Promise<bigint>;
  /** The database these rows are in, to write them in transactions of the test's own. */
  db: Queryable;
}

/** Creates the table (once per database) and registers a source over it with the server. */
export async function testSource(t: Test, agora: Agora): Promise<TestSource> {
  const pool = new pg.Pool({ connectionString: agora.databaseUrl, max: 4 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  await pool.query(`create table if not exists ${TABLE.table} (${STREAM_COLUMNS_DDL}, account_id uuid not null, body text not null)`);
  await pool.query(`create index if not exists stream_test_event_account on ${TABLE.table} (account_id, txid, seq)`);
  const db: Queryable = { query: async (sql, params) => (await pool.query(sql, params as unknown[])).rows };
  const source: StreamSource = {
    type: 'test',
    key: 't',
    async since(accountId, after, limit) {
      const { rows, pending } = await readStreamRows<{ body: string }>(db, TABLE, accountId, after, limit);
      return { events: rows.map((row) => ({ position: { txid: BigInt(row.txid), seq: BigInt(row.seq) }, data: { body: row.body } })), pending };
    },
    // A bound on the wait for older transactions far above the product's (TAIL_WAIT_MS), so that
    // the tests of that wait (stream.test.ts) do not depend on the machine's speed.
    tail: (accountId) => streamTail(db, TABLE, accountId, TEST_TAIL_WAIT_MS),
  };
  const streams = agora.services.stream;
  if (!(streams instanceof LiveStreams)) throw new Error('a test stream source is registered where the streams are read (not with STREAM_SERVICE_URL)');
  streams.register(source);
  return {
    pool,
    db,
    async write(accountId, body) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query(`insert into ${TABLE.table} (account_id, body) values ($1, $2) returning seq`, [accountId, body]);
        await client.query(WAKE_STREAMS_SQL, [accountId]);
        await client.query('commit');
        return BigInt(rows[0].seq);
      } finally {
        client.release();
      }
    },
  };
}

export function stream(agora: Agora, token: string | undefined, lastEventId?: string): Promise<OpenStream> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  return openStream(checkedFetch(), `${agora.baseUrl}/stream`, headers);
}

export const bodies = (s: OpenStream) => s.events.filter((e) => e.event === 'test').map((e) => e.data.body as string);

export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

