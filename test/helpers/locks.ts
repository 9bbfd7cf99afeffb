// Makes requests slow honestly: a transaction of the test's own holds row locks, so the server's
// writes to those rows wait in PostgreSQL until the test lets go.
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeldLocks {
  release(): Promise<void>;
}

export async function lockRows(databaseUrl: string, table: string, ids: string[]): Promise<HeldLocks> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query(`select 1 from ${table} where id = any($1::uuid[]) for update`, [ids]);
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= client.query('commit').then(() => client.end());
      return released;
    },
  };
}

/** Holds a SHARE lock on a whole table: every insert, update or delete on it waits. */
export async function lockTable(databaseUrl: string, table: string): Promise<HeldLocks> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query(`lock table ${table} in share mode`);
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= client.query('commit').then(() => client.end());
      return released;
    },
  };
}

/** Waits (at most `timeoutMs`) until `count` other sessions of the database wait for a lock. */
export async function waitForLockWaiters(databaseUrl: string, count: number, timeoutMs = 10_000): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
      );
      if (rows[0].n >= count) return;
      if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${count} queries wait for the lock after ${timeoutMs} ms`);
      await sleep(20);
    }
  } finally {
    await client.end();
  }
}

/** Polls `check` every 20 ms until it returns a value other than undefined, for at most `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
